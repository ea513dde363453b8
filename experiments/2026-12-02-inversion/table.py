"""Markdown tables of the inversion and edit rows run.sh printed.

  python experiments/2026-12-02-inversion/table.py runs/inversion
"""

import json
import os
import sys


def last_json(path):
  with open(path) as f:
    lines = [l for l in f if l.startswith("{")]
  return json.loads(lines[-1]) if lines else None


def fmt(row, key, spec):
  return format(row[key], spec) if key in row else ""


def main(folder):
  print("| method | steps | MSE | PSNR (dB) | SSIM | feature distance | "
        "class agreement | FID recon. (originals) | ms per image |")
  print("|---|---|---|---|---|---|---|---|---|")
  for method in ("encoder", "hybrid", "optimize"):
    path = os.path.join(folder, f"{method}.json")
    if not os.path.exists(path) or last_json(path) is None:
      continue
    r = last_json(path)
    print(f"| {method} | {r['steps']} | {r['mse']:.4f} | {r['psnr']:.2f} | "
          f"{r['ssim']:.3f} | {r['feature_distance']:.4f} | "
          f"{r['class_agreement']:.3f} | {r['fid_reconstructions']:.2f} "
          f"({r['fid_originals']:.2f}) | {1000 * r['seconds_per_image']:.2f} |")
  print()
  print("| edit | images | success rate (moved only) | already in target | "
        "feature distance | other | seconds |")
  print("|---|---|---|---|---|---|---|")
  for name in ("interpolate", "direction", "arithmetic", "sefa0", "sefa1",
               "pca0", "counterfactual", "inpaint"):
    path = os.path.join(folder, f"{name}.json")
    if not os.path.exists(path) or last_json(path) is None:
      continue
    r = last_json(path)
    success = (f"{r['success_rate']:.3f} ({r.get('success_rate_moved', 0):.3f})"
               if "success_rate" in r else "")
    other = ", ".join(f"{k} {r[k]:.4g}" for k in (
        "svm_accuracy", "mean_steps", "latent_distance", "eigenvalue",
        "explained_variance", "hole_mse", "hole_psnr") if k in r)
    print(f"| {name} | {r['num_images']} | {success} | "
          f"{fmt(r, 'already_in_target', '.3f')} | "
          f"{fmt(r, 'feature_distance', '.4f')} | {other} | {r['seconds']} |")


if __name__ == "__main__":
  main(sys.argv[1])
