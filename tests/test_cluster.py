"""The cluster path: Hydra's submitit launcher (the ``cluster`` extra) gives the same tables as joblib.

``hydra/launcher=submitit_local`` runs the very code path of ``submitit_slurm`` (pickled jobs,
one process each, results on the filesystem) without a SLURM cluster. Skipped only when the extra
is not installed; ``.ci/run`` installs it and sets RNNEXP_REQUIRE_CLUSTER=1 so it cannot be skipped.
"""
import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from rnnexp.runs import cache, results

ROOT = Path(__file__).resolve().parents[1]
HAVE_SUBMITIT = importlib.util.find_spec("hydra_plugins.hydra_submitit_launcher") is not None
if not HAVE_SUBMITIT and os.environ.get("RNNEXP_REQUIRE_CLUSTER"):
    raise RuntimeError("RNNEXP_REQUIRE_CLUSTER is set but the cluster extra is missing: pip install '.[cluster]'")
needs_submitit = pytest.mark.skipif(not HAVE_SUBMITIT, reason="needs the cluster extra: pip install '.[cluster]'")
SWEEP = ["-m", "hidden=4,8", "order=lsb,msb", "steps=60", "eval_every=20", "replicas=3"]


def run_cli(*args, cwd):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    r = subprocess.run([sys.executable, "-m", "rnnexp", *args], cwd=cwd, env=env, capture_output=True, text=True,
                       timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr
    return r


def tables(d: Path) -> dict[str, pd.DataFrame]:
    out = {}
    for name in results.TABLES:
        df = pd.read_csv(d / f"{name}.csv")
        out[name] = df.drop(columns=[c for c in df.columns if "wall_time" in c])
    return out


@pytest.mark.slow
@needs_submitit
def test_submitit_local_gives_the_same_tables_as_joblib(tmp_path):
    # separate caches: both launchers really train
    run_cli(*SWEEP, f"hydra.sweep.dir={tmp_path / 'joblib'}", "cache_dir=cache-joblib", cwd=tmp_path)
    r = run_cli(*SWEEP, "hydra/launcher=submitit_local", f"hydra.sweep.dir={tmp_path / 'submitit'}",
                "cache_dir=cache-submitit", cwd=tmp_path)
    assert "Submitit 'local' sweep output dir" in r.stdout + r.stderr
    assert (tmp_path / "submitit" / ".submitit").is_dir()  # the jobs really went through submitit
    assert cache.entries(tmp_path / "cache-submitit"), "relative cache_dir: from the launch dir"
    a, b = tables(tmp_path / "joblib"), tables(tmp_path / "submitit")
    for name in results.TABLES:
        assert len(a[name]) > 0
        pd.testing.assert_frame_equal(a[name], b[name], check_exact=True, obj=name)


def test_a_missing_launcher_names_the_extra(monkeypatch):
    from hydra.core.global_hydra import GlobalHydra

    from rnnexp import cli

    GlobalHydra.instance().clear()
    with pytest.raises(cli.UsageError, match=r"hydra/launcher=submitit_slurmm is not available"):
        cli.precheck(["-m", "hydra/launcher=submitit_slurmm", "hidden=4"])
    real = cli.check_launcher

    def without_submitit(overrides):  # as on a machine without the extra
        from hydra.core.global_hydra import GlobalHydra as GH
        loader = GH.instance().config_loader()
        monkeypatch.setattr(loader, "get_group_options",
                            lambda group, *a, **k: ["basic", "joblib", "rnnexp_joblib"])
        return real(overrides)

    monkeypatch.setattr(cli, "check_launcher", without_submitit)
    with pytest.raises(cli.UsageError, match=r"install it with: pip install 'rnnexp\[cluster\]'"):
        cli.precheck(["-m", "hydra/launcher=submitit_slurm", "hidden=4"])
