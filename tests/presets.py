"""Run a study preset through the CLI exactly as its README says (shared by the study tests)."""
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parents[1]


def run_preset(tmp_path: Path, name: str, *overrides: str) -> Path:
    """``python -m rnnexp -m +experiment=NAME OVERRIDES`` into a temporary sweep dir and cache."""
    sweep = tmp_path / "sweep"
    cmd = [sys.executable, "-m", "rnnexp", "-m", f"+experiment={name}", *overrides,
           f"hydra.sweep.dir={sweep}", f"cache_dir={tmp_path / 'cache'}"]
    r = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    assert "report:" in r.stdout, r.stdout[-2000:] + r.stderr[-2000:]
    return sweep


TOLERANCE = "Steps to reach a loss tolerance (seed 003's view)"  # section headings more than one preset declares
BLOWUP = "Weights and gradients blowing up (seed 000's symptom)"
GENERIC = ["Summary", "Convergence", "Outcomes", "Gradients"]  # the headings every report has, before the studies'


def study_sections(sweep: Path) -> list[str]:
    """The headings of ``report.md`` after the generic report's and before the list of tables: the
    sections the preset declared (``report.sections``), as the sweep recorded them."""
    heads = re.findall(r"^## (.+)$", (sweep / "report.md").read_text(), flags=re.M)
    assert heads[:len(GENERIC)] == GENERIC and heads[-1] == "Tables", heads
    return heads[len(GENERIC):-1]
