"""``rnnexp --help`` shows every setting with its meaning and allowed values, made from one source
(``rnnexp/helptext.py`` and the checks' rules) that the README's Settings table is made from too."""
import sys
from pathlib import Path

import pytest

from rnnexp import __main__ as entry
from rnnexp import config, helptext, tasks
from rnnexp.engine import models

ROOT = Path(__file__).resolve().parents[1]


def run_help(monkeypatch, capsys, *overrides) -> str:
    monkeypatch.setattr(sys, "argv", ["rnnexp", "--help", *overrides])
    with pytest.raises(SystemExit) as e:
        entry.main()
    assert e.value.code == 0
    return capsys.readouterr().out


def test_every_setting_has_a_meaning_and_nothing_else_does():
    """A new setting (of the schema, a model or a task) without a meaning fails here."""
    every = {config.OVERRIDE_NAME.get(k, k) for m in [None, *models.names()] for t in [None, *tasks.names()]
             for k in config.setting_types(m, t)}
    assert set(helptext.settings()) == every
    assert set(helptext.MEANINGS) == every
    for name, meaning in helptext.MEANINGS.items():  # a meaning per owner names exactly the owners
        if isinstance(meaning, dict):
            assert sorted(meaning) == sorted(helptext.owners(name)), name
    for name, notes in helptext.OPTIONS.items():  # option notes only for options that exist
        assert set(notes) <= set(helptext.choices(name)), name


def test_allowed_values_are_the_checks_own():
    assert helptext.choices("activation") == ["sigmoid", "tanh", "relu", "identity"]
    assert helptext.choices("model.merge") == ["concat", "sum"] and helptext.choices("bias") == ["true", "false"]
    # the group options Hydra can load (conf/<group>/) are the values the check allows
    for group in ("task", "model", "init", "clip", "optimizer"):
        on_disk = sorted(p.stem for p in (config.conf_dir() / group).glob("*.yaml"))
        assert on_disk == sorted(helptext.choices(group)), group
    for key, (test, what) in config.RULES.items():
        if what.startswith("one of "):
            name = config.OVERRIDE_NAME.get(key, key)
            assert all(test(v) for v in helptext.choices(name)) and not test("no-such-value"), key


def test_help_shows_every_setting_with_its_meaning_and_allowed_values(monkeypatch, capsys):
    out = run_help(monkeypatch, capsys)
    flat = " ".join(out.split())  # wrapped lines joined
    for name in helptext.settings():
        for owner, text in helptext.describe(name):
            assert f"  {name}=" in out, name
            assert " ".join(helptext.plain(text).split()) in flat, (name, owner)
            what = helptext.allowed(name, owner)
            values = helptext.choices(name, owner)
            assert all(v in flat for v in values) if values else what in flat, name
    # presets are given as +experiment=NAME; the internal arm group is not offered
    assert "+experiment=NAME" in out
    for preset in helptext.presets():
        assert f"\n  {preset} " in out, preset
    assert "arm" not in out.replace("warm", "").replace("harm", "")
    # Hydra's template still says how to rebuild and where Hydra's own options are
    assert 'eval "$(rnnexp -sc install=bash)"' in out and "rnnexp --hydra-help" in out


def test_help_shows_the_values_the_command_would_use():
    """``rnnexp --help model=lstm hidden=7``: the composed config's values (``help_resolver`` gets it
    whole, ``hydra`` node included), a model's own settings at its values, the others' defaults."""
    from omegaconf import OmegaConf

    composed = OmegaConf.create({"hydra": {"help": {}}, "model": {"name": "lstm", "layers": 2, "forget_bias": 0.5},
                                 "hidden": 7, "init": {"name": "uniform"}})
    out = helptext.help_resolver(_root_=composed)
    for shown in ("  model=lstm ", "  hidden=7 ", "  init=uniform ", "  model.layers=2 ", "  model.forget_bias=0.5 ",
                  "  model.merge=concat ", "  activation=tanh "):
        assert shown in out, shown
    assert "$" not in helptext.text().replace("$$", "")


def test_the_readme_settings_table_is_the_generated_one():
    readme = helptext.readme_settings(ROOT / "README.md")
    assert readme == helptext.markdown_table(), (
        "README.md's Settings table differs from rnnexp/helptext.py: replace it with the output of "
        "python -c 'from rnnexp import helptext; print(helptext.markdown_table())'")
