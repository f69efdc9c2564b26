"""The Hydra entry point: ``python -m rnnexp [-m] [key=value ...]``. Config in, ``runs.job.run`` out."""
from __future__ import annotations

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from . import cli, config
from .runs import combine, job


@hydra.main(version_base="1.3", config_path=str(config.conf_dir()), config_name="config")
def app(cfg: DictConfig) -> None:
    hc = HydraConfig.get()
    result = job.run(cfg, hc.runtime.output_dir, base_dir=hc.runtime.cwd)  # cache_dir: from the launch dir
    s = result.summary
    solved = int(s["solved"].sum())
    took = f"cached (trained earlier in {result.wall_time:.1f} s)" if result.cached else f"{result.wall_time:.1f} s"
    line = (f"solved {solved}/{len(s)} replicas, per-bit acc {s['bit_acc'].mean():.4f}, "
            f"whole-sum acc {s['sum_acc'].mean():.4f}, diverged {int(s['diverged'].sum())}, {took}")
    if hc.mode.name == "MULTIRUN":
        print(f"[job {hc.job.num}] {' '.join(hc.overrides.task)}: {line}", flush=True)  # workers: a pipe buffers
    else:
        print(combine.format_overview(s, keys=[]))
        print(f"rnnexp: {line}\nresults: {hc.runtime.output_dir}")


def main() -> None:
    cli.run_precheck()
    app()


if __name__ == "__main__":
    main()
