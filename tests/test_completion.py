"""Shell completion of the ``rnnexp`` command: what bash gets on <TAB>, and the way it asks for it.

Bash runs ``rnnexp -sc query=bash`` with the command line in ``COMP_LINE`` (Hydra's install
script, ``eval "$(rnnexp -sc install=bash)"``); the fast tests call the entry point the same way
in-process, the slow one runs the installed script in a real bash.
"""
import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from rnnexp import __main__ as entry
from rnnexp import completion, helptext
from rnnexp.engine import activations

ROOT = Path(__file__).resolve().parents[1]


def tab(monkeypatch, capsys, line: str) -> list[str]:
    """What ``rnnexp -sc query=bash`` prints for ``line``, as bash runs it on <TAB>."""
    monkeypatch.setenv("COMP_LINE", line)
    monkeypatch.setattr(sys, "argv", ["rnnexp", "-sc", "query=bash"])
    with pytest.raises(SystemExit) as e:
        entry.main()
    assert e.value.code == 0
    return capsys.readouterr().out.split()


def test_clip_offers_its_options(monkeypatch, capsys):
    assert tab(monkeypatch, capsys, "rnnexp clip=") == ["clip=none", "clip=norm", "clip=value"]


def test_plain_settings_offer_every_allowed_value_not_only_the_current_one():
    # Hydra alone answers activation= with the current value only (activation=tanh)
    assert completion.query("rnnexp -m hidden=4,8 activation=") == sorted(f"activation={a}" for a in activations.ACTIVATIONS)


def test_presets_come_as_plus_experiment_and_the_arm_group_is_not_offered():
    assert completion.query("rnnexp +experiment=") == [f"+experiment={p}" for p in helptext.presets()]
    # Hydra's answers to "rnnexp " include these four: arm is internal, experiment only ever added
    assert completion._fix(["arm=", "arm/", "experiment=", "hidden="], "") == ["+experiment=", "hidden="]
    assert completion._fix(["experiment="], "+ex") == ["+experiment="] and completion._fix(["+arm="], "+a") == []


def test_the_program_is_stripped_however_it_was_started():
    # Hydra's own query reads "python -m rnnexp acti" as the override "rnnexp" and fails
    for line in ("rnnexp acti", "/venv/bin/rnnexp acti", "python -m rnnexp acti", "/usr/bin/python3.11 -m rnnexp acti"):
        assert completion.args_of(line) == "acti", line
    assert completion.args_of("rnnexp -m hidden=4 ") == "-m hidden=4 "


def test_the_console_script_and_the_completion_it_installs(monkeypatch, capsys):
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    module, func = scripts["rnnexp"].split(":")
    assert module == "rnnexp.__main__" and getattr(entry, func) is entry.main
    # python -m rnnexp -sc install=bash: argv[0] is .../rnnexp/__main__.py; completion is installed
    # for the console script (Hydra would name `python .../__main__.py`, which cannot run as a file)
    monkeypatch.setattr(sys, "argv", [entry.__file__, "-sc", "install=bash"])
    entry.main()
    assert capsys.readouterr().out.rstrip().endswith("-F hydra_bash_completion rnnexp")


@pytest.mark.slow
def test_more_completions(monkeypatch, capsys):
    assert tab(monkeypatch, capsys, "rnnexp -m hidden=4,8 clip=n") == ["clip=none", "clip=norm"]
    assert tab(monkeypatch, capsys, "rnnexp order=") == ["order=lsb", "order=msb"]
    assert tab(monkeypatch, capsys, "rnnexp bias=") == ["bias=false", "bias=true"]
    assert tab(monkeypatch, capsys, "rnnexp model=birnn model.merge=") == ["model.merge=concat", "model.merge=sum"]
    assert tab(monkeypatch, capsys, "python -m rnnexp acti") == ["activation="]
    assert tab(monkeypatch, capsys, "rnnexp +ex") == ["+experiment="]
    assert tab(monkeypatch, capsys, "rnnexp ar") == [] and tab(monkeypatch, capsys, "rnnexp +ar") == []
    everything = tab(monkeypatch, capsys, "rnnexp ")
    assert "+experiment=" in everything and "hidden=" in everything and not any("arm" in w for w in everything)


@pytest.mark.slow
def test_hydra_help_names_a_command_that_works(monkeypatch, capsys):
    """``python -m rnnexp --hydra-help`` said ``eval "$(python .../rnnexp/__main__.py -sc install=bash)"``,
    which fails with ImportError (the file's relative imports)."""
    monkeypatch.setattr(sys, "argv", [entry.__file__, "--hydra-help"])
    with pytest.raises(SystemExit):
        entry.main()
    out = capsys.readouterr().out
    assert 'eval "$(rnnexp -sc install=bash)"' in out and "__main__.py" not in out, out


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
def test_bash_completes_clip_through_the_installed_script(tmp_path):
    """The whole path: install the completion in a bash, press <TAB> after ``rnnexp clip=``."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    script = bin_dir / "rnnexp"  # what pip makes of [project.scripts]
    script.write_text(f"#!{sys.executable}\nimport sys\nfrom rnnexp.__main__ import main\nsys.exit(main())\n")
    script.chmod(0o755)
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
           "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    bash = 'eval "$(rnnexp -sc install=bash)"\n'
    for word in ("clip=", "activation=r"):
        bash += (f'COMP_LINE="rnnexp {word}"; COMP_POINT=${{#COMP_LINE}}; COMP_WORDS=(rnnexp {word}); COMP_CWORD=1\n'
                 'hydra_bash_completion; echo "${COMPREPLY[@]}"\n')
    r = subprocess.run(["bash", "-c", bash], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    clip, act = r.stdout.splitlines()
    assert sorted(clip.split()) == ["clip=none", "clip=norm", "clip=value"], (r.stdout, r.stderr)
    assert act.split() == ["activation=relu"], (r.stdout, r.stderr)
