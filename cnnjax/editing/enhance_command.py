"""`cnnjax enhance` as a function a test can call.

  cnnjax enhance --workdir RUN --in photo.jpg --out fixed.jpg
  cnnjax enhance --workdir RUN --in photos/ --out fixed/    # same names

A folder is read with its subfolders (every .png/.jpg/.jpeg, hidden files
skipped, as `folder:` datasets read it) and written with the same relative
paths. Images of any size and mode: gray ones are enhanced as RGB and
written back as gray (the luma of the result); an alpha channel is kept as
it is; 16-bit images are written in 8 bits. JPEGs are written at quality
95.

Nothing is written until every check has passed (inputs readable as
images, outputs free or --overwrite, the run an enhance run); a folder's
outputs are written to a temporary folder beside --out and moved into
place at the end, so a failure midway leaves --out as it was.
"""

import os
import shutil
import tempfile
import time

import numpy as np
from PIL import Image

from cnnjax.data import folder, image_files
from cnnjax.editing import adjust, enhance, inputs
from cnnjax.errors import UserError
from cnnjax.utils import files

SUFFIXES = (".png", ".jpg", ".jpeg")
JPEG_QUALITY = 95


def enhance_images(workdir: str, source: str, out: str, *,
                   overwrite: bool = False, step=None) -> dict:
  """Enhances the image file or folder `source` into `out` (a file for a
  file, a folder for a folder); returns the row `cnnjax enhance` prints:
  per image its name, size, predicted parameters (adjust.named) and
  seconds, and the totals."""
  names, root = _inputs(source)
  if root is None:  # one file
    if not out.lower().endswith(SUFFIXES):
      raise UserError(f"--out {out} must end with .png, .jpg or .jpeg.")
    inputs.check_out_path(out, overwrite, os.path.splitext(out)[1])
    targets = [out]
  else:
    inputs.check_out_dir(out, overwrite, names)
    targets = [os.path.join(out, name) for name in names]
  paths = [source] if root is None else [os.path.join(root, n) for n in names]
  for path in paths:
    image_files.probe(path)  # a file that is no image fails before any work
  enhancer = enhance.load(workdir, step)
  enhancer.warm_up()

  staging = tempfile.mkdtemp(prefix=".enhance-", dir=_parent(out))
  try:
    rows, start = [], time.perf_counter()
    staged = []
    for index, (path, target) in enumerate(zip(paths, targets)):
      began = time.perf_counter()
      row, picture = _enhance_one(enhancer, path, target)
      temporary = os.path.join(staging, f"{index}{os.path.splitext(target)[1]}")
      _save(picture, temporary, target)
      staged.append(temporary)
      rows.append({"name": names[index], **row,
                   "seconds": round(time.perf_counter() - began, 4)})
    seconds = time.perf_counter() - start
    for temporary, target in zip(staged, targets):
      os.makedirs(os.path.dirname(os.path.abspath(target)), exist_ok=True)
      os.replace(temporary, target)
  finally:
    shutil.rmtree(staging, ignore_errors=True)
  return {"workdir": os.path.abspath(workdir), "step": enhancer.step,
          "in": source, "out": os.path.abspath(out), "num_images": len(rows),
          "images": rows, "seconds": round(seconds, 4),
          "images_per_second": round(len(rows) / seconds, 3)}


def _inputs(source: str) -> tuple[list[str], str | None]:
  """(names, folder) of what --in names: a file's base name and None, or
  a folder's images by relative path."""
  if os.path.isdir(source):
    names = folder.find_images(source)
    if not names:
      raise UserError(f"--in {source}: the folder holds no .png/.jpg/.jpeg "
                      "files (subfolders were searched).")
    return names, source
  if not os.path.exists(source):
    raise UserError(f"--in {source}: no such file or folder.")
  if not source.lower().endswith(SUFFIXES):
    raise UserError(f"--in {source} is not a .png/.jpg/.jpeg file.")
  return [os.path.basename(source)], None


def _parent(out: str) -> str:
  """The existing folder nearest to `out` (where staging goes, so that the
  final moves stay on one file system)."""
  parent = os.path.dirname(os.path.abspath(out))
  while not os.path.isdir(parent):
    parent = os.path.dirname(parent)
  return parent


def read(path: str) -> tuple[np.ndarray, np.ndarray | None, bool]:
  """(uint8 [H, W, 3] colour, uint8 [H, W] alpha or None, whether gray)."""
  picture = image_files.open_image(path)
  gray = picture.mode in image_files.GRAY_MODES
  if picture.mode in ("P", "PA"):
    picture = picture.convert("RGBA")  # palette entries may carry alpha
  has_alpha = (picture.mode.endswith(("A", "a")) or
               "transparency" in picture.info)
  if has_alpha:
    pixels = np.asarray(picture.convert("LA" if gray else "RGBA"))
    colour, alpha = pixels[..., :-1], pixels[..., -1]
  else:
    colour, alpha = image_files.to_pixels(picture), None
  if colour.shape[-1] == 1:
    colour = np.repeat(colour, 3, axis=-1)
  return colour, alpha, gray


def _enhance_one(enhancer: enhance.Enhancer, path: str, target: str):
  colour, alpha, gray = read(path)
  if alpha is not None and not target.lower().endswith(".png"):
    raise UserError(f"{path} has an alpha channel, which {target} (a JPEG) "
                    "cannot hold; write it as .png.")
  enhanced, params = enhancer(colour)
  if gray:
    luma = enhanced.astype(np.float32) @ np.asarray(adjust.LUMA, np.float32)
    enhanced = np.clip(np.rint(luma), 0, 255).astype(np.uint8)[..., None]
  if alpha is not None:
    enhanced = np.concatenate([enhanced, alpha[..., None]], axis=-1)
  height, width = colour.shape[:2]
  row = {"width": width, "height": height, "gray": gray,
         "alpha": alpha is not None, "params": adjust.named(params)}
  return row, Image.fromarray(enhanced[..., 0] if enhanced.shape[-1] == 1
                              else enhanced)


def _save(picture: Image.Image, path: str, target: str) -> None:
  """Writes `picture` to `path` in the format `target`'s suffix names."""
  is_png = target.lower().endswith(".png")
  with files.atomic_write(path, "wb") as f:
    if is_png:
      picture.save(f, format="PNG")
    else:
      picture.save(f, format="JPEG", quality=JPEG_QUALITY)
