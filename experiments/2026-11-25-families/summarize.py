"""Table, curves and grids of the family comparison (run.sh's workdirs).

  .venv/bin/python experiments/2026-11-25-families/summarize.py runs/families OUT_DIR

Prints a markdown table (final and best FID of each family, with the other
metrics of the final evaluation) and writes OUT_DIR/curves.png (FID against
real images seen; losses against steps) and OUT_DIR/<family>.png (the final
sample grid). Needs matplotlib, which cnnjax itself does not.
"""

import json
import os
import shutil
import sys

FAMILIES = ("mlp_gan", "dcgan", "lsgan", "sngan", "wgan_gp", "cgan")


def load(workdir):
  with open(os.path.join(workdir, "config.json")) as f:
    config = json.load(f)
  with open(os.path.join(workdir, "metrics.jsonl")) as f:
    rows = [json.loads(line) for line in f]
  per_step = config["train"]["batch_size"] * config["train"]["n_critic"]
  evals = [dict(r, images=r["step"] * per_step) for r in rows if "fid" in r]
  logs = [r for r in rows if "d_loss" in r]
  return config, evals, logs


def main() -> int:
  runs, out = sys.argv[1], sys.argv[2]
  os.makedirs(out, exist_ok=True)
  import matplotlib
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt
  figure, axes = plt.subplots(1, 3, figsize=(16, 4.5))
  print("| family | model | G steps | real images | final FID | best FID (step) "
        "| KID | precision | recall | IS | class acc. | train img/s | wall |")
  print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
  for family in FAMILIES:
    workdir = os.path.join(runs, family)
    if not os.path.exists(os.path.join(workdir, "metrics.jsonl")):
      continue
    config, evals, logs = load(workdir)
    final, best = evals[-1], min(evals, key=lambda r: r["fid"])
    # Workdirs of format 2 configure G per role; format 1 had one section.
    generator = config["model"].get("generator", config["model"])
    model = (f"{generator['name']} g={generator['base_width']}"
             f", n_critic={config['train']['n_critic']}")
    rates = sorted(r["images_per_sec"] for r in logs[1:])
    accuracy = final.get("class_accuracy")
    print(f"| {family} | {model} | {final['step']} | {final['images'] // 1000}k "
          f"| {final['fid']:.2f} | {best['fid']:.2f} ({best['step']}) "
          f"| {final['kid']:.2f} | {final['precision']:.3f} "
          f"| {final['recall']:.3f} | {final['inception_score']:.2f} "
          f"| {'' if accuracy is None else f'{accuracy:.3f}'} "
          f"| {rates[len(rates) // 2]:.0f} | {logs[-1]['wall_time'] / 60:.1f} min |")
    axes[0].plot([r["images"] / 1000 for r in evals], [r["fid"] for r in evals],
                 marker="o", label=family)
    axes[1].plot([r["step"] for r in logs], [r["d_loss"] for r in logs],
                 label=family)
    axes[2].plot([r["step"] for r in logs], [r["g_loss"] for r in logs],
                 label=family)
    grid = os.path.join(workdir, "samples", f"step_{final['step']}.png")
    shutil.copy(grid, os.path.join(out, f"{family}.png"))
  axes[0].set(xlabel="real images seen (k)", ylabel="FID (classifier features)",
              yscale="log", title="FID, 10k vs 10k")
  axes[1].set(xlabel="G step", ylabel="d_loss", title="D loss")
  axes[2].set(xlabel="G step", ylabel="g_loss", title="G loss")
  for axis in axes:
    axis.legend(fontsize=8)
    axis.grid(alpha=0.3)
  figure.tight_layout()
  figure.savefig(os.path.join(out, "curves.png"), dpi=90)
  return 0


if __name__ == "__main__":
  sys.exit(main())
