"""`cnnjax invert` as a function a test can call (and the latents file it
writes, which `cnnjax edit` reads).

DIR/latents.npz holds, row for row: `z` [N, d], the latents in the space
meta names (`spaces`: z, w, or w+ flattened to num_ws * w_dim), `labels`
[N] (the generator's labels; the classifier's prediction where the images came
without one), `originals` and `reconstructions` (float32 in [-1, 1]),
`names`, and `meta`, a JSON string: method, GAN run and step, settings.
"""

import json
import os
import zipfile

import ml_collections
import numpy as np

from cnnjax.editing import inputs, invert, quality, session
from cnnjax.errors import UserError
from cnnjax.utils import files, images as images_lib

LATENTS, RECONSTRUCTION = "latents.npz", "reconstruction.png"
DEFAULT_STEPS = {"optimize": 200, "hybrid": 50, "encoder": 0}


def invert_images(workdir: str, images: str, out: str, *,
                  method: str = "hybrid", encoder: str | None = None,
                  steps: int | None = None, overwrite: bool = False,
                  step=None, batch_size: int = 250,
                  metrics: bool = True, space: str | None = None) -> dict:
  """Inverts the images `images` names into the generator of `workdir`;
  writes DIR/latents.npz and DIR/reconstruction.png; returns the metric
  row (see cnnjax.editing.quality). `space`: z, w or w+ (`spaces`;
  default w for StyleGAN2, else z)."""
  inputs.check_out_dir(out, overwrite, [LATENTS, RECONSTRUCTION])
  if method not in invert.METHODS:
    raise UserError(f"--method {method!r}: use one of "
                    f"{', '.join(invert.METHODS)}.")
  if method in ("encoder", "hybrid") and not encoder:
    raise UserError(f"--method {method} needs --encoder ENCODER_RUN (a run of "
                    "configs/encoder.py:gan=<GAN run>); --method optimize "
                    "needs none.")
  steps = DEFAULT_STEPS[method] if steps is None else steps
  if method != "encoder" and steps < 1:
    raise UserError(f"--steps {steps}: {method} needs at least 1 step.")
  editor = session.Editor(workdir, encoder=encoder, step=step,
                          batch_size=batch_size, space=space)
  read = inputs.read_images(images, editor.gen.data)
  logits = editor.classify(read.images)
  labels = (read.labels if read.labels is not None else
            session.predicted_classes(logits))
  settings = invert.Settings(steps=max(steps, 1))
  z, seconds = editor.invert(read.images, labels, method, settings)
  recon = editor.generate(z, labels)

  row = {"method": method, "space": editor.gen.space.name,
         "steps": steps if method != "encoder" else 0, "num_images": len(z)}
  if metrics and len(z) >= 4:
    data = ml_collections.ConfigDict(editor.gen.data)
    split = reference_split(images, editor.gen.values.get("eval", {}).get(
        "split", "train"))
    evaluator = quality.ReconstructionEvaluator(
        data, read.images, labels, split=split, extractor=editor.net.name,
        mesh=editor.mesh, batch_size=editor.batch_size)
    row.update(evaluator.measure(recon))
  row.update({"seconds": round(seconds, 3),
              "seconds_per_image": seconds / len(z),
              "images_per_second": round(len(z) / seconds, 2)
              if seconds > 0 else None})
  meta = {**editor.describe(), "method": method, "steps": row["steps"],
          "images": images, "settings": vars(settings)}
  os.makedirs(out, exist_ok=True)
  save_latents(os.path.join(out, LATENTS), z=z, labels=labels,
               originals=read.images, reconstructions=recon,
               names=read.names, meta=meta)
  save_pairs(read.images, recon, os.path.join(out, RECONSTRUCTION))
  row["out"] = os.path.abspath(out)
  return row


def reference_split(spec: str, default: str) -> str:
  """The split FID compares with: a dataset spec's own
  (dataset:<name>:<split>[:N]), else the GAN run's eval.split."""
  if not spec.startswith("dataset:"):
    return default
  parts = spec.split(":")[1:]
  return parts[-2] if parts[-1].isdigit() else parts[-1]


def save_latents(path: str, *, z, labels, originals, reconstructions, names,
                 meta: dict) -> None:
  with files.atomic_write(path, "wb") as f:
    np.savez(f, z=np.asarray(z, np.float32),
             labels=np.asarray(labels, np.int32),
             originals=np.asarray(originals, np.float32),
             reconstructions=np.asarray(reconstructions, np.float32),
             names=np.asarray(names), meta=json.dumps(meta))


def load_latents(path: str) -> dict:
  """The arrays of a latents.npz `cnnjax invert` wrote, checked."""
  if not os.path.isfile(path):
    raise UserError(f"--latents {path}: no such file; `cnnjax invert ... "
                    "--out DIR` writes DIR/latents.npz.")
  if not zipfile.is_zipfile(path):
    raise UserError(f"--latents {path} is not an .npz file; `cnnjax invert "
                    "... --out DIR` writes DIR/latents.npz.")
  try:
    with np.load(path, allow_pickle=False) as stored:
      found = {key: stored[key] for key in stored.files}
    found["meta"] = json.loads(str(found["meta"]))
  except Exception as error:  # zip, npy or JSON errors of a damaged file
    raise UserError(f"--latents {path} cannot be read ({type(error).__name__}"
                    f": {error}); write it again with `cnnjax invert`.") from None
  wanted = ("z", "labels", "originals", "reconstructions", "names")
  missing = [key for key in wanted if key not in found]
  if missing or len({len(found[k]) for k in wanted}) != 1:
    raise UserError(f"--latents {path} is not a latents file of `cnnjax "
                    f"invert` (missing or mismatched {missing or wanted}).")
  return found


def save_pairs(originals, reconstructions, path: str, columns: int = 16,
               limit: int = 64) -> None:
  """A grid of originals (odd rows) above their reconstructions."""
  originals, reconstructions = originals[:limit], reconstructions[:limit]
  rows = []
  for start in range(0, len(originals), columns):
    for part in (originals, reconstructions):
      chunk = part[start:start + columns]
      rows.append(quality.pad_to(chunk, min(columns, len(originals))))
  images_lib.save_grid(np.concatenate(rows), path, rows=len(rows), scale=2)
