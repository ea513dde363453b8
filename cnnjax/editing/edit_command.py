"""`cnnjax edit` as a function a test can call: one operation on the
latents `cnnjax invert` wrote, a grid (one row per image: original |
reconstruction | edits) and the edited latents beside it (GRID.npz), and a
metric row: for edits toward a class, `success_rate` (the share the
classifier puts in the target class) and `feature_distance` (how far the
edit moved the image from its original, in the classifier's features)."""

import json
import logging
import os
import time

import numpy as np

from cnnjax.editing import commands, edits, inputs, latent_ops, session
from cnnjax.errors import UserError
from cnnjax.metrics import reconstruction
from cnnjax.utils import files, images as images_lib

log = logging.getLogger(__name__)

OPS = ("interpolate", "direction", "arithmetic", "sefa", "pca",
       "counterfactual", "inpaint")
DEFAULT_STRENGTHS = {"direction": "0,1,2,3,4", "arithmetic": "0.5,1,1.5",
                     "sefa": "-6,-3,0,3,6", "pca": "-6,-3,0,3,6"}
# Ops that need --target (so does `direction`, unless G is conditional).
NEEDS_TARGET = ("arithmetic", "counterfactual")
GRID_ROWS = 16  # the grid shows the first images; the metrics cover all


def _strengths(text: str | None, op: str) -> np.ndarray:
  text = text or DEFAULT_STRENGTHS.get(op, "")
  try:
    values = [float(v) for v in text.split(",") if v.strip()]
  except ValueError:
    raise UserError(f"--strengths {text!r}: comma-separated numbers, e.g. "
                    "-3,0,3.") from None
  if not values:
    raise UserError("--strengths needs at least one number.")
  return np.asarray(values, np.float32)


def edit(workdir: str, latents: str, op: str, out: str, *,
         target: int | None = None, component: int = 0,
         strengths: str | None = None, frames: int = 8,
         interpolation: str | None = None, mask: str | None = None,
         steps: int = 200, distance_weight: float = 1.0,
         bridge_points: int = 16, rows: int = 8,
         overwrite: bool = False, step=None) -> dict:
  """See the module docstring; returns the metric row."""
  if op not in OPS:
    raise UserError(f"--op {op!r}: use one of {', '.join(OPS)}.")
  inputs.check_out_path(out, overwrite, ".png")
  edited_path = out[:-4] + ".npz"
  inputs.check_out_path(edited_path, overwrite, ".npz")
  stored = commands.load_latents(latents)
  if op in NEEDS_TARGET and target is None:
    raise UserError(f"--op {op} needs --target CLASS.")
  if op == "inpaint" and not mask:
    raise UserError("--op inpaint needs --mask (rect:X0,Y0,X1,Y1, "
                    "center:S, or a PNG whose white pixels are filled).")
  space = stored["meta"].get("space", "z")  # files before W spaces: z
  # Gaussian z: slerp keeps the typical radius; w is not Gaussian: lerp.
  interpolation = interpolation or ("slerp" if space == "z" else "lerp")
  if interpolation not in ("slerp", "lerp"):
    raise UserError(f"--interpolation {interpolation!r}: slerp or lerp.")
  if component < 0:
    raise UserError(f"--component {component} must be >= 0.")
  if rows < 1 or frames < 2 or steps < 1:
    raise UserError("--rows and --steps must be >= 1, --frames >= 2.")
  editor = session.Editor(workdir, step=step, space=space)
  if stored["z"].shape[1] != editor.gen.space.size:
    raise UserError(
        f"{latents} holds {stored['z'].shape[1]}-d latents in {space}; the "
        f"generator of {workdir} takes {editor.gen.space.size}-d ones there. "
        f"Pass the GAN run they were inverted with "
        f"({stored['meta'].get('gan_workdir')}).")
  classes = editor.net.num_classes
  if target is not None and not 0 <= target < classes:
    raise UserError(f"--target {target} is not a class of the classifier "
                    f"(0..{classes - 1}).")
  known = inputs.read_mask(mask, editor.gen.data["resolution"]) if mask \
      else None
  if op == "direction" and target is None and not editor.conditional:
    raise UserError("--op direction needs --target CLASS (the class whose "
                    "InterFaceGAN direction to follow).")

  count = min(rows, len(stored["z"]))
  z, labels = stored["z"][:count], stored["labels"][:count]
  originals = stored["originals"][:count]
  recon = stored["reconstructions"][:count]
  start = time.perf_counter()
  row = {"op": op, "num_images": count}
  columns, edited, final = _run(op, editor, z, labels, originals, row,
                                target=target, component=component,
                                strengths=strengths, frames=frames,
                                interpolation=interpolation, known=known,
                                steps=steps, distance_weight=distance_weight,
                                bridge_points=bridge_points)
  row["seconds"] = round(time.perf_counter() - start, 3)
  if final is not None:  # an edit's end result: did it work, how far
    features = editor.features(np.concatenate([originals, final]))
    row["feature_distance"] = float(np.mean(reconstruction.feature_distance(
        features[:count], features[count:])))
    if target is not None:
      success = session.predicted_classes(editor.classify(final)) == target
      before = session.predicted_classes(editor.classify(recon)) == target
      row.update({"target": target, "success_rate": float(np.mean(success)),
                  "already_in_target": float(np.mean(before))})
      if (~before).any():  # the images the edit had to move
        row["success_rate_moved"] = float(np.mean(success[~before]))
  shown = min(count, GRID_ROWS)
  grid = np.concatenate([originals[:shown, None], recon[:shown, None],
                         columns[:shown]], 1)
  os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
  images_lib.save_grid(grid.reshape(-1, *grid.shape[2:]), out, rows=shown,
                       scale=2)
  with files.atomic_write(edited_path, "wb") as f:
    np.savez(f, z=np.asarray(edited, np.float32), labels=labels,
             meta=json.dumps({**editor.describe(), **row,
                              "latents": os.path.abspath(latents)}))
  row.update({"out": os.path.abspath(out),
              "edited_latents": os.path.abspath(edited_path)})
  return row


def _along(editor, z, labels, direction, values):
  """Images [N, S, ...] of z + s * direction, and the latents [N, S, d]."""
  moved = np.asarray(latent_ops.apply_direction(z, direction, values))
  n, s, d = moved.shape
  images = editor.generate(moved.reshape(n * s, d), np.repeat(labels, s))
  return images.reshape(n, s, *images.shape[1:]), moved


def _run(op, editor, z, labels, originals, row, *, target, component,
         strengths, frames, interpolation, known, steps, distance_weight,
         bridge_points):
  """(edit columns [N, K, R, R, C], edited latents, final edit images or
  None) of one operation; adds what it learned to `row`."""
  n = len(z)
  if op == "interpolate":
    ts = np.linspace(0, 1, frames, dtype=np.float32)
    other = np.roll(z, -1, axis=0)  # each image toward the next one
    path = latent_ops.slerp if interpolation == "slerp" else latent_ops.lerp
    moved = np.asarray(path(z, other, ts))
    row["interpolation"] = interpolation
    images = editor.generate(moved.reshape(n * frames, -1),
                             np.repeat(labels, frames))
    return images.reshape(n, frames, *images.shape[1:]), moved, None
  if op == "direction" and editor.conditional:
    # A conditional G: keep the latent, switch the label.
    wanted = [target] if target is not None else list(
        range(editor.gen.num_classes))
    images = np.stack([editor.generate(z, np.full(n, k, np.int32))
                       for k in wanted], 1)
    row["method"] = "label_switch"
    final = images[:, 0] if target is not None else None
    return images, np.repeat(z[:, None], len(wanted), 1), final
  if op == "direction":
    direction, accuracy, share = edits.class_direction(editor, target)
    row.update({"method": "interfacegan", "svm_accuracy": accuracy,
                "positive_share": share})
    images, moved = _along(editor, z, labels, direction,
                           _strengths(strengths, op))
    return images, moved, images[:, -1]
  if op == "arithmetic":
    means = edits.class_means(editor)
    if target not in means:
      raise UserError(f"No generated sample was classified as {target}; "
                      "latent arithmetic has no mean latent for it.")
    own = session.predicted_classes(editor.classify(editor.generate(
        z, labels)))
    shift = np.stack([means[target] - means.get(int(c), means[target])
                      for c in own])
    values = _strengths(strengths, op)
    moved = z[:, None] + values[None, :, None] * shift[:, None]
    images = editor.generate(moved.reshape(-1, z.shape[1]),
                             np.repeat(labels, len(values)))
    images = images.reshape(n, len(values), *images.shape[1:])
    return images, moved, images[:, -1]
  if op in ("sefa", "pca"):
    count = component + 1
    if count > z.shape[1]:
      raise UserError(f"--component {component}: the latent has "
                      f"{z.shape[1]} dimensions, so directions 0.."
                      f"{z.shape[1] - 1}.")
    directions, weights = (edits.sefa(editor, count) if op == "sefa" else
                           edits.pca(editor, count))
    row.update({"component": component,
                ("eigenvalue" if op == "sefa" else "explained_variance"):
                float(weights[component])})
    images, moved = _along(editor, z, labels, directions[component],
                           _strengths(strengths, op))
    return images, moved, None
  if op == "counterfactual":
    moved, taken, bridged = edits.counterfactual(
        editor, z, labels, target, steps, distance_weight=distance_weight,
        bridge_points=bridge_points)
    images = editor.generate(moved, labels)
    row.update({"mean_steps": float(np.mean(taken)),
                "bridged": float(np.mean(bridged)),
                "latent_distance": float(np.mean(np.linalg.norm(
                    moved - z, axis=-1)))})
    return images[:, None], moved[:, None], images
  # inpaint
  gray = np.zeros_like(originals)
  masked = known[None, :, :, None] * originals + (
      1 - known[None, :, :, None]) * gray
  filled, moved = edits.inpaint(editor, originals, labels, z, known, steps)
  hole = 1 - known[None, :, :, None]
  error = np.sum(hole * (filled - originals) ** 2, axis=(1, 2, 3)) / (
      np.sum(hole) * originals.shape[-1])
  row.update({"hole_mse": float(np.mean(error)),
              "hole_psnr": float(np.mean(10 * np.log10(4.0 / np.maximum(
                  error, 1e-12)))),
              "hole_pixels": int(np.sum(1 - known))})
  return np.stack([masked, filled], 1), moved[:, None], None
