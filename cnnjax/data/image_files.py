"""PNG/JPEG files: what `folder:` datasets and `cnnjax invert --images` share.

  if is_image_name(name): ...
  picture = open_image(path)                  # decoded, EXIF orientation applied
  width, height, gray = probe(path)           # the header only
  pixels = to_pixels(picture)                 # uint8 [H, W, 1 or 3], any mode

Every failure names the file in one `DataError` (a `UserError`).
"""

import numpy as np
from PIL import Image, ImageOps

from cnnjax.errors import DataError

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg")
# Modes with one channel of values. "I;16*" are 16-bit PNGs; "I" is the
# 32-bit mode some Pillow versions give them.
_WIDE_MODES = ("I", "I;16", "I;16L", "I;16B", "I;16N")
GRAY_MODES = ("1", "L", "LA", "La") + _WIDE_MODES
# EXIF orientations that swap width and height (transposes and 90° turns).
_SWAPPING_ORIENTATIONS = (5, 6, 7, 8)
_EXIF_ORIENTATION = 0x0112
# What Pillow raises for a file that is not, or not entirely, an image.
_READ_ERRORS = (OSError, ValueError, SyntaxError, EOFError,
                Image.DecompressionBombError)


def is_image_name(name: str) -> bool:
  """Whether a file name has a PNG/JPEG extension (any case)."""
  return name.lower().endswith(IMAGE_EXTENSIONS)


def _unreadable(path: str, error: Exception) -> DataError:
  return DataError(f"cannot read {path} as an image ({error}); is it a valid "
                   f"PNG/JPEG file?")


def open_image(path: str) -> Image.Image:
  """The decoded image at `path`, turned upright as its EXIF orientation
  says (as image viewers show it)."""
  try:
    with Image.open(path) as picture:
      picture.load()  # decodes now, so a truncated file fails here
      if picture.getexif().get(_EXIF_ORIENTATION, 1) == 1:
        return picture  # upright already: no copy
      return ImageOps.exif_transpose(picture)
  except _READ_ERRORS as e:
    raise _unreadable(path, e) from None


def probe(path: str) -> tuple[int, int, bool]:
  """(width, height, gray) of the upright image, from the file's header.

  Cheap: Pillow reads the header, not the pixels, so a file that is not an
  image fails here and a truncated one only when it is decoded.
  """
  try:
    with Image.open(path) as picture:
      width, height = picture.size
      gray = picture.mode in GRAY_MODES
      # Only EXIF already in the header: asking a PNG for more decodes it.
      orientation = (picture.getexif().get(_EXIF_ORIENTATION)
                     if "exif" in picture.info else None)
  except _READ_ERRORS as e:
    raise _unreadable(path, e) from None
  if orientation in _SWAPPING_ORIENTATIONS:
    width, height = height, width
  return width, height, gray


def to_pixels(picture: Image.Image) -> np.ndarray:
  """Any decoded image as uint8 [H, W, 1] (gray modes) or [H, W, 3].

  16-bit values are scaled to 8 bits (v / 257, rounded). Transparent pixels
  are composited onto black (color * alpha): transparent areas of icons and
  cut-outs become 0, the value padding also uses, and whatever color a
  transparent pixel happened to store is never seen. Palette images count
  as color.
  """
  if picture.mode in _WIDE_MODES:
    values = np.asarray(picture, dtype=np.float64) / 257.0
    return np.clip(np.rint(values), 0, 255).astype(np.uint8)[..., None]
  if picture.mode in ("P", "PA"):
    picture = picture.convert("RGBA")  # entries may be color or alpha
  has_alpha = (picture.mode.endswith(("A", "a")) or
               "transparency" in picture.info)
  mode = ("L" if picture.mode in GRAY_MODES else "RGB") + (
      "A" if has_alpha else "")
  try:
    # Converting with alpha also turns a PNG transparency key into alpha.
    pixels = np.asarray(picture.convert(mode))
  except ValueError as e:
    raise DataError(f"cannot convert a '{picture.mode}' image to {mode} "
                    f"({e}); save it as an 8-bit gray or RGB PNG.") from None
  pixels = pixels.reshape(pixels.shape[:2] + (-1,))
  if has_alpha:
    alpha = pixels[..., -1:].astype(np.uint32)
    pixels = ((pixels[..., :-1] * alpha + 127) // 255).astype(np.uint8)
  return pixels
