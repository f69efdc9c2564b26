"""Study sections are declared, not guessed: a preset names them (``report.sections``), the sweep
records them, ``python -m rnnexp.report DIR --sections a,b`` replaces them, an unknown name is refused
before any work; and the report room's own rules (module size, not part of the engine version)."""
import re
import subprocess
import sys
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from omegaconf import OmegaConf
from test_report import DIVERGE, TINY, build_quietly, make_sweep

from rnnexp import cli, config
from rnnexp.runs import cache, results
from rnnexp.report import generic as report
from rnnexp.report import studies

ROOT = Path(__file__).parents[1]
GENERIC = ["Summary", "Convergence", "Outcomes", "Gradients", "Tables"]  # the headings every report has
STUDY = {"clipping": "Clipping", "blowup": "Weights and gradients blowing up (seed 000's symptom)",
         "tolerance": "Steps to reach a loss tolerance (seed 003's view)"}


def headings(md_path: Path) -> list[str]:
    return re.findall(r"^## (.+)$", md_path.read_text(), flags=re.M)


def composed(*overrides: str):
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(config.conf_dir()), version_base="1.3"):
        return compose(config_name="config", overrides=list(overrides))


@pytest.fixture(scope="module")
def blowing_up(tmp_path_factory):
    """Unclipped replicas diverge and clip is swept: the data the report used to guess the blow-up, clipping
    and tolerance sections from."""
    root = make_sweep(tmp_path_factory.mktemp("sweep"), {"clip": ["none", "norm"]}, fixed=DIVERGE)
    return root


@pytest.mark.slow
def test_a_sweep_that_declares_no_section_gets_the_generic_report_only(blowing_up):
    t = report.load(blowing_up)
    assert t.summary["diverged"].any() and t.summary["clip"].nunique() == 2  # what used to call for sections
    assert headings(build_quietly(blowing_up)) == GENERIC
    assert not (blowing_up / "report_blowup.csv").exists() and not (blowing_up / "report_clipping.csv").exists()


@pytest.mark.slow
def test_the_sections_the_sweep_recorded_are_drawn_in_their_order(blowing_up):
    # what Hydra writes into a sweep dir: the composed config, report.sections included
    OmegaConf.save(composed("report.sections=[blowup,clipping]"), blowing_up / "multirun.yaml")
    try:
        assert report.recorded_sections(blowing_up) == ["blowup", "clipping"]
        assert headings(build_quietly(blowing_up)) == GENERIC[:-1] + [STUDY["blowup"], STUDY["clipping"], "Tables"]
    finally:
        (blowing_up / "multirun.yaml").unlink()


@pytest.mark.slow
def test_the_sections_flag_replaces_the_recorded_ones(blowing_up):
    OmegaConf.save(composed("report.sections=[blowup,clipping]"), blowing_up / "multirun.yaml")
    try:  # --sections replaces them; '' leaves the generic report
        assert report.main([str(blowing_up), "--sections", "tolerance"]) == 0
        assert headings(blowing_up / "report.md") == GENERIC[:-1] + [STUDY["tolerance"], "Tables"]
        assert report.main([str(blowing_up), "--sections", ""]) == 0
        assert headings(blowing_up / "report.md") == GENERIC
    finally:
        (blowing_up / "multirun.yaml").unlink()


@pytest.mark.slow
def test_a_single_runs_folder_keeps_its_sections(tmp_path):
    run = make_sweep(tmp_path, {"hidden": [2]}) / "0"
    (run / ".hydra").mkdir()
    OmegaConf.save(composed(*TINY, "report.sections=[tolerance]"), run / ".hydra" / "config.yaml")
    assert headings(build_quietly(run)) == GENERIC[:-1] + [STUDY["tolerance"], "Tables"]


@pytest.mark.slow  # seconds: the fast suite's budget (README: Tests and CI)
def test_without_multirun_yaml_the_first_jobs_recorded_config_counts(tmp_path):
    root = make_sweep(tmp_path, {"hidden": [2, 3]})
    (root / "0" / ".hydra").mkdir()
    OmegaConf.save(composed(*TINY, "hidden=2", "report.sections=[tolerance]"), root / "0" / ".hydra" / "config.yaml")
    assert report.recorded_sections(root) == ["tolerance"]


def test_an_unknown_section_is_refused_in_one_line(blowing_up, capsys):
    allowed = ", ".join(studies.names())
    assert report.main([str(blowing_up), "--sections", "blowup,nope"]) == 1
    err = capsys.readouterr().err
    assert err == f"rnnexp.report: error: --sections: there is no report section 'nope'; allowed: {allowed}\n"
    with pytest.raises(cli.UsageError) as e:  # before a sweep starts, with every other bad setting
        cli.precheck(["-m", "hidden=2,4", "report.sections=[tolerance,nope]"])
    assert str(e.value) == ("report.sections=['tolerance', 'nope'] is not allowed: "
                            f"report.sections must be a list of: {allowed}")
    cli.precheck(["-m", "hidden=2,4", "report.sections=[tolerance,blowup]"])  # known names pass


def test_sections_are_neither_a_result_column_nor_part_of_the_cache_key():
    plain, declared = composed(), composed("report.sections=[gradients,blowup]")
    assert list(declared.report.sections) == ["gradients", "blowup"]
    assert results.config_columns(declared) == results.config_columns(plain)
    assert not [c for c in results.config_columns(declared) if c.startswith("report")]
    assert cache.settings(declared) == cache.settings(plain) and "report" not in cache.settings(declared)


@pytest.mark.slow  # seconds: the fast suite's budget (README: Tests and CI)
def test_every_preset_declares_known_sections():
    want = {"order": ["seed_metric", "tolerance"], "classic": ["tolerance"],
            "seed000": ["gradients", "clipping", "tolerance", "blowup"],
            "gradients": ["gradients", "tolerance"], "clipping": ["clipping", "tolerance", "blowup"],
            "length": ["lengths", "tolerance"], "models": ["bits", "tolerance"], "frontier": ["frontier"],
            "memory": ["memory"]}
    presets = sorted(p.stem for p in (ROOT / "conf" / "experiment").glob("*.yaml"))
    assert presets == sorted(want)
    for name in presets:
        assert list(composed(f"+experiment={name}").report.sections) == want[name], name


def test_the_registry_names_a_function_of_each_study_module():
    modules = sorted(p.stem for p in Path(studies.__file__).parent.glob("*.py") if not p.stem.startswith("_"))
    assert sorted(set(studies.SECTIONS.values())) == modules  # every study module draws a registered section
    for name in studies.names():
        assert callable(studies.get(name)) and studies.get(name).__module__.endswith("." + studies.SECTIONS[name])
    with pytest.raises(ValueError, match="allowed: gradients, clipping"):
        studies.get("nope")


@pytest.mark.slow  # seconds: the fast suite's budget (README: Tests and CI)
def test_importing_the_section_names_loads_no_plotting_library():
    code = "import sys, rnnexp.config; print(sorted(m for m in ('matplotlib', 'seaborn', 'PIL') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert out.returncode == 0 and out.stdout.strip() == "[]", out.stderr


def test_report_modules_are_small_and_outside_the_engine_version():
    package = Path(report.__file__).parent
    modules = sorted(package.rglob("*.py"))
    assert len(modules) >= 12
    for path in modules:
        n = len(path.read_text().splitlines())
        assert n <= 400, f"{path.relative_to(package)}: {n} lines"
        assert not cache.is_engine(path), path  # editing a figure never invalidates a stored training
