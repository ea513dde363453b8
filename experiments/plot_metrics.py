"""Plots a workdir's metrics.jsonl: losses and throughput against steps.

  python experiments/plot_metrics.py WORKDIR OUT.png [--title TEXT]

Needs matplotlib (`pip install matplotlib`), which cnnjax itself does not.
"""

import argparse
import json
import os
import sys


def main() -> int:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("workdir")
  parser.add_argument("out")
  parser.add_argument("--title", default="")
  args = parser.parse_args()
  try:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
  except ImportError:
    print("plot_metrics needs matplotlib: pip install matplotlib", file=sys.stderr)
    return 2
  path = os.path.join(args.workdir, "metrics.jsonl")
  with open(path) as f:
    rows = [json.loads(line) for line in f if '"d_loss"' in line]
  steps = [r["step"] for r in rows]
  figure, (losses, speed) = plt.subplots(1, 2, figsize=(10, 3.2))
  for key in ("d_loss", "g_loss"):
    losses.plot(steps, [r[key] for r in rows], label=key)
  losses.set_xlabel("step")
  losses.legend()
  losses.set_title(args.title or "losses")
  speed.plot(steps, [r["images_per_sec"] for r in rows])
  speed.set_xlabel("step")
  speed.set_ylabel("images/s")
  speed.set_ylim(bottom=0)
  speed.set_title("throughput")
  figure.tight_layout()
  figure.savefig(args.out, dpi=80)
  return 0


if __name__ == "__main__":
  sys.exit(main())
