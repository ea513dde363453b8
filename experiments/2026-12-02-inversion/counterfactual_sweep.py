"""Counterfactual settings compared in one process (issue 14's 90% target).

  python experiments/2026-12-02-inversion/counterfactual_sweep.py \
      runs/quickstart runs/inversion/hybrid/latents.npz OUT.jsonl \
      [--images 200] [--targets 5] [--variants NAME,...]

(LATENTS `prior:` edits generated images of N(0, I) latents instead.)

Each variant edits the first --images inverted test images toward each
target; one JSON line per (variant, target): success rate (the classifier's
class of the final image, regenerated as `cnnjax edit` does), the share
already there, mean steps, latent distance, feature distance, seconds.
"""

import argparse
import json
import time

import numpy as np

from cnnjax.editing import commands, edits
from cnnjax.metrics import reconstruction
from cnnjax.editing.session import Editor, predicted_classes

VARIANTS = {
    # name: counterfactual keyword arguments
    "fixed-w1": dict(steps=100, distance_weight=1.0),
    "fixed-w0.1": dict(steps=200, distance_weight=0.1),
    "bridge16": dict(steps=200, distance_weight=0.1, bridge_points=16),
    "bridge16-100steps-w1": dict(steps=100, distance_weight=1.0,
                                 bridge_points=16),
}


def main():
  parser = argparse.ArgumentParser()
  parser.add_argument("gan")
  parser.add_argument("latents")
  parser.add_argument("out")
  parser.add_argument("--images", type=int, default=200)
  parser.add_argument("--targets", default="5")
  parser.add_argument("--variants", default=",".join(VARIANTS))
  args = parser.parse_args()
  editor = Editor(args.gan)
  if args.latents.startswith("prior:"):  # generated images, for a quick look
    z = np.random.default_rng(7).standard_normal(
        (args.images, editor.gen.latent_dim)).astype(np.float32)
    fake = editor.generate(z)
    stored = {"z": z, "labels": np.zeros(len(z), np.int32),
              "originals": fake, "reconstructions": fake}
  else:
    stored = commands.load_latents(args.latents)
  z = stored["z"][:args.images]
  labels = stored["labels"][:args.images]
  originals = stored["originals"][:args.images]
  before = predicted_classes(editor.classify(
      stored["reconstructions"][:args.images]))
  original_features = editor.features(originals)
  with open(args.out, "a") as f:
    for name in args.variants.split(","):
      for target in [int(t) for t in args.targets.split(",")]:
        start = time.perf_counter()
        moved, taken, bridged = edits.counterfactual(editor, z, labels, target,
                                            **VARIANTS[name])
        seconds = time.perf_counter() - start
        final = editor.generate(moved, labels)
        after = predicted_classes(editor.classify(final))
        row = {"variant": name, **VARIANTS[name], "target": target,
               "images": len(z),
               "success_rate": float(np.mean(after == target)),
               "already_in_target": float(np.mean(before == target)),
               "success_rate_moved": float(np.mean(
                   after[before != target] == target)),
               "mean_steps": float(np.mean(taken)),
               "bridged": float(np.mean(bridged)),
               "latent_distance": float(np.mean(np.linalg.norm(moved - z,
                                                               axis=-1))),
               "feature_distance": float(np.mean(
                   reconstruction.feature_distance(
                       original_features,
                       editor.features(final)))),
               "seconds": round(seconds, 1)}
        print(json.dumps(row), flush=True)
        f.write(json.dumps(row) + "\n")


if __name__ == "__main__":
  main()
