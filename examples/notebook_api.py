"""rnnexp from Python, without the command line: does bit order matter? (the example sweep's question)

    python examples/notebook_api.py                  # trains 2 configurations x 10 replicas, shows the figure
    python examples/notebook_api.py --out order.png  # the figure into a file instead of a window

In a notebook, run the body of ``main`` cell by cell: the figures draw into the notebook's Axes.
"""
import argparse

import matplotlib.pyplot as plt
import pandas as pd

import rnnexp


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=1000)
    ap.add_argument("--replicas", type=int, default=10)
    ap.add_argument("--out", help="write the figure here (PNG, SVG or PDF) instead of showing it")
    args = ap.parse_args(argv)

    # settings named as on the command line, checked the same way (a bad one: rnnexp.ConfigError)
    results = [rnnexp.run(rnnexp.configure(hidden=8, order=order, steps=args.steps, replicas=args.replicas))
               for order in ("lsb", "msb")]

    # every table carries its settings as columns: results concatenate into tidy tables
    summary = pd.concat([r.summary for r in results], ignore_index=True)
    history = pd.concat([r.history for r in results], ignore_index=True)
    profile = pd.concat([r.profile for r in results], ignore_index=True)
    print(summary.groupby("order")[["solved", "bit_acc", "sum_acc"]].mean())

    # the report's figures, drawn into Axes of your own (colour: the setting that differs, order)
    fig, axes = plt.subplots(1, 3, figsize=(14, 3.6), layout="constrained")
    rnnexp.draw.learning_curve(history, "sum_acc", summary=summary, ax=axes[0])
    rnnexp.draw.success_rate(summary, ax=axes[1])
    rnnexp.draw.gradient_profile(profile, phase="end", ax=axes[2])
    if args.out:
        fig.savefig(args.out)
        print(f"figure: {args.out}")
    else:
        plt.show()
    return summary


if __name__ == "__main__":
    main()
