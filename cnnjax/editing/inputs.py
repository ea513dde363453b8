"""What `cnnjax invert` and `cnnjax edit` read and write: images, masks, outputs.

  images = read_images("photos/", run_config["data"])  # or a file, or
  images = read_images("dataset:digits:test:16", run_config["data"])
  mask = read_mask("center:12", resolution=32)         # 1 known, 0 to fill
  check_out_path("edit.png", overwrite=False, suffix=".png")

Images come out exactly as training batches are: float32 [N, R, R, C] in
[-1, 1]. Every mistake a user can make here (a missing file, a wrong size,
a color image for a grayscale model, a malformed mask) is one `UserError`.
"""

import dataclasses
import os

import numpy as np
from PIL import Image

from cnnjax.data import transforms
# open_image: decoded and upright, or one UserError naming the file.
from cnnjax.data.image_files import is_image_name, open_image
from cnnjax.data.pipeline import BatchReader
from cnnjax.data.registry import FOLDER_PREFIX, TFDS_PREFIX, load_source
from cnnjax.errors import UserError

DATASET_PREFIX = "dataset:"
SPEC_HELP = ("--images takes a PNG/JPEG file, a folder of them, or "
             "dataset:<name>:<split>[:N]")
# Modes read without loss; "P" (palette) is expanded to RGBA first.
_GRAY_MODES = ("1", "L", "LA")
_COLOR_MODES = ("RGB", "RGBA", "CMYK", "YCbCr")


# eq=False: a generated __eq__ would compare numpy arrays and fail.
@dataclasses.dataclass(frozen=True, eq=False)
class Images:
  """Images ready for a model, and where each came from.

  Attributes:
    images: float32 [N, R, R, C] in [-1, 1], as training batches are.
    labels: int32 [N] for dataset records, None for image files.
    names: per image, its file name relative to the folder (the base name
      for a single file), or "<dataset>:<split>:<index>".
    source: one line saying where the images came from.
  """

  images: np.ndarray
  labels: np.ndarray | None
  names: list[str]
  source: str

  def __len__(self) -> int:
    return len(self.names)


def read_images(spec: str, data_config) -> Images:
  """Reads the images `spec` names, preprocessed for the run's model.

  Args:
    spec: a PNG/JPEG file; a folder, whose .png/.jpg/.jpeg files (any case)
      are read sorted by name (subfolders are not searched); or
      "dataset:<name>:<split>[:N]", the first N (default all) records of a
      registered dataset's split, preprocessed exactly as training batches.
    data_config: the run's `data` config (a dict or ConfigDict) with
      resolution, channels, resize_method and, for datasets, data_dir.

  Image files must be R x R (the model's resolution) and have the model's
  channels. Smaller square images that the training pipeline pads (with
  resize_method "auto": up to 4 px smaller, e.g. 28x28 Fashion-MNIST for a
  32 px model; with "pad": any smaller) are padded the same way. Anything
  that would need resampling, cropping or a color conversion is refused:
  resize or convert it yourself, so you know what the model sees. An RGB
  image whose three channels are equal counts as gray (that is lossless).
  """
  if spec.startswith(DATASET_PREFIX):
    return _read_dataset(spec, data_config)
  if os.path.isdir(spec):
    names = sorted(name for name in os.listdir(spec)
                   if is_image_name(name)
                   and os.path.isfile(os.path.join(spec, name)))
    if not names:
      raise UserError(f"the folder {spec} has no .png/.jpg/.jpeg files "
                      f"(subfolders are not searched); {SPEC_HELP}.")
    paths = [os.path.join(spec, name) for name in names]
    source = f"{len(names)} images from the folder {spec}"
  elif os.path.isfile(spec):
    if not is_image_name(spec):
      raise UserError(f"{spec} is not a .png/.jpg/.jpeg file; {SPEC_HELP}.")
    paths, names, source = [spec], [os.path.basename(spec)], f"the file {spec}"
  else:
    raise UserError(f"no such file or folder: {spec}; {SPEC_HELP}.")
  images = np.concatenate([_read_file(path, data_config) for path in paths])
  return Images(images=images, labels=None, names=names, source=source)


def _read_file(path: str, data_config) -> np.ndarray:
  """One image file as float32 [1, R, R, C], checked and padded."""
  resolution, channels = data_config["resolution"], data_config["channels"]
  method = data_config["resize_method"]
  picture = open_image(path)
  width, height = picture.size
  _check_size(path, width, height, resolution, method)
  pixels = _pixels(picture, path, channels)
  # The same function BatchReader uses, so a padded file is what training saw.
  pixels = transforms.to_resolution(pixels[None], resolution, method)
  return transforms.to_float(pixels, channels)


def _check_size(path: str, width: int, height: int, resolution: int,
                method: str) -> None:
  """Accepts R x R, and smaller squares that the pipeline pads."""
  if width == height <= resolution and transforms.resolve_method(
      method, width, resolution) in ("none", "pad"):
    return
  smallest = max(resolution - transforms.MAX_AUTO_PAD, 1)
  note = {"pad": " (smaller square images are padded as in training)",
          "auto": f" ({smallest}x{smallest} to {resolution - 1}x"
                  f"{resolution - 1} are padded as in training)"
          }.get(method, "") if smallest < resolution else ""
  raise UserError(f"{path} is {width}x{height}, but the model takes "
                  f"{resolution}x{resolution} images{note}; resize it first, "
                  f"e.g. with PIL's Image.open(path).resize(({resolution}, "
                  f"{resolution})).save(...).")


def _pixels(picture: Image.Image, path: str, channels: int) -> np.ndarray:
  """uint8 [H, W, channels], refusing what would need a lossy conversion."""
  if picture.mode in ("P", "PA"):
    picture = picture.convert("RGBA")  # palette entries may be color or alpha
  if picture.mode not in _GRAY_MODES + _COLOR_MODES:
    raise UserError(f"{path} has PIL mode '{picture.mode}', not 8-bit gray "
                    f"or RGB; save it as an 8-bit gray or RGB PNG.")
  gray = picture.mode in _GRAY_MODES
  # Converting with alpha also turns a PNG transparency key into alpha.
  with_alpha = np.asarray(picture.convert("LA" if gray else "RGBA"))
  if (with_alpha[..., -1] != 255).any():
    raise UserError(f"{path} has transparent pixels; flatten it onto a "
                    f"background first (the model has no alpha channel).")
  pixels = with_alpha[..., :-1]
  if not gray and channels == 1 and (pixels == pixels[..., :1]).all():
    gray, pixels = True, pixels[..., :1]  # gray saved as RGB: no loss
  if gray and channels == 3:
    raise UserError(f"{path} is a grayscale image, but the model is RGB "
                    f"(data.channels=3); give it an RGB image.")
  if not gray and channels == 1:
    raise UserError(f"{path} is a color image, but the model is grayscale "
                    f"(data.channels=1); convert it first, e.g. with PIL's "
                    f"Image.open(path).convert('L').save(...).")
  return pixels


def _read_dataset(spec: str, data_config) -> Images:
  """The first N records of a dataset split, as BatchReader makes them."""
  usage = (f"write dataset:<name>:<split>[:N], e.g. dataset:digits:test:16 "
           f"(got '{spec}')")
  parts = spec[len(DATASET_PREFIX):].split(":")
  # TFDS and folder names have a colon of their own:
  # dataset:tfds:cifar10:test:8, dataset:folder:/data/photos:test:8.
  head = 2 if spec[len(DATASET_PREFIX):].startswith(
      (TFDS_PREFIX, FOLDER_PREFIX)) else 1
  name, rest = ":".join(parts[:head]), parts[head:]
  if not name or len(rest) not in (1, 2) or not rest[0]:
    raise UserError(f"--images: {usage}.")
  split = rest[0]
  image_source = load_source(name, split, data_config.get("data_dir") or None)
  size = count = len(image_source)
  if len(rest) == 2:
    try:
      count = int(rest[1])
    except ValueError:
      raise UserError(f"--images: N must be an integer; {usage}.") from None
    if not 1 <= count <= size:
      raise UserError(f"--images: {name} '{split}' has {size} images; ask "
                      f"for N between 1 and {size} (got {count}).")
  reader = BatchReader(source=image_source.source,
                       resolution=data_config["resolution"],
                       channels=data_config["channels"],
                       resize_method=data_config["resize_method"])
  batch = reader(np.arange(count))
  return Images(
      images=batch["image"], labels=np.asarray(batch["label"], np.int32),
      names=[f"{name}:{split}:{index}" for index in range(count)],
      source=f"the first {count} records of {image_source.description}")


def read_mask(spec: str, resolution: int) -> np.ndarray:
  """An inpainting mask: float32 [R, R], 1.0 where pixels are known (kept)
  and 0.0 where they are to be filled.

  `spec` is "rect:X0,Y0,X1,Y1" (fill columns X0..X1-1 of rows Y0..Y1-1),
  "center:S" (fill the centered S x S square), or an R x R image file where
  white (gray value >= 128) means fill and black means known. The fill
  region must be neither empty nor the whole image.
  """
  if spec.startswith("rect:"):
    known = _rect_mask(spec, resolution)
  elif spec.startswith("center:"):
    try:
      side = int(spec[len("center:"):])
    except ValueError:
      raise UserError(f"--mask '{spec}': write center:S with an integer S, "
                      f"e.g. center:{resolution // 2}.") from None
    if not 1 <= side < resolution:
      raise UserError(f"--mask '{spec}': S must be between 1 and "
                      f"{resolution - 1} for {resolution}x{resolution} images.")
    start = (resolution - side) // 2
    known = np.ones((resolution, resolution), bool)
    known[start:start + side, start:start + side] = False
  elif os.path.isfile(spec):
    picture = open_image(spec)
    if picture.size != (resolution, resolution):
      width, height = picture.size
      raise UserError(f"the mask {spec} is {width}x{height}, but the images "
                      f"are {resolution}x{resolution}; draw it at that size.")
    known = np.asarray(picture.convert("L")) < 128
  else:
    raise UserError(f"--mask '{spec}' is not rect:X0,Y0,X1,Y1, center:S or "
                    f"an existing mask image (white = fill, black = known).")
  if known.all():
    raise UserError(f"--mask '{spec}' fills no pixel; mark the region to fill "
                    f"(white in a mask image).")
  if not known.any():
    raise UserError(f"--mask '{spec}' fills the whole image; leave some "
                    f"pixels known (black in a mask image).")
  return known.astype(np.float32)


def _rect_mask(spec: str, resolution: int) -> np.ndarray:
  try:
    x0, y0, x1, y1 = (int(v) for v in spec[len("rect:"):].split(","))
  except ValueError:
    raise UserError(f"--mask '{spec}': write rect:X0,Y0,X1,Y1 with four "
                    f"integers, e.g. rect:8,8,24,24 (X1, Y1 exclusive)."
                    ) from None
  if not (0 <= x0 < x1 <= resolution and 0 <= y0 < y1 <= resolution):
    raise UserError(f"--mask '{spec}': need 0 <= X0 < X1 <= {resolution} and "
                    f"0 <= Y0 < Y1 <= {resolution} for {resolution}x"
                    f"{resolution} images (X1, Y1 exclusive).")
  known = np.ones((resolution, resolution), bool)
  known[y0:y1, x0:x1] = False
  return known


def check_out_path(path: str, overwrite: bool, suffix: str) -> None:
  """Refuses an output file `path` that lacks `suffix` (any case), is a
  folder, or exists without `overwrite`. Creates nothing: the caller makes
  the parent folder once every check has passed."""
  if not path.lower().endswith(suffix.lower()):
    raise UserError(f"--out {path} must end with {suffix}.")
  if os.path.isdir(path):
    raise UserError(f"--out {path} is a folder; give a {suffix} file name.")
  if os.path.exists(path) and not overwrite:
    raise UserError(f"{path} exists; choose another --out or pass "
                    f"--overwrite.")


def check_out_dir(path: str, overwrite: bool, produced: list[str]) -> None:
  """Refuses an output folder `path` that is a file, or that already holds
  any of the files `produced` (names inside it) without `overwrite`."""
  if os.path.exists(path) and not os.path.isdir(path):
    raise UserError(f"--out {path} is a file; give a folder.")
  existing = [name for name in produced
              if os.path.exists(os.path.join(path, name))]
  if existing and not overwrite:
    raise UserError(f"{path} already holds {', '.join(existing)}; choose "
                    f"another --out or pass --overwrite.")
