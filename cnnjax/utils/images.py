"""Image grids for samples."""

import numpy as np
from PIL import Image

from cnnjax.utils import files


def to_uint8(images: np.ndarray) -> np.ndarray:
  """[-1, 1] floats -> uint8, rounding to nearest."""
  return np.clip(np.rint((np.asarray(images) + 1.0) * 127.5), 0, 255).astype(
      np.uint8)


def make_grid(images: np.ndarray, rows: int | None = None,
              padding: int = 2) -> np.ndarray:
  """Tiles NHWC images in [-1, 1] into one uint8 HWC image, row-major."""
  images = to_uint8(images)
  count, height, width, channels = images.shape
  rows = rows or int(np.ceil(np.sqrt(count)))
  cols = int(np.ceil(count / rows))
  grid = np.full((rows * (height + padding) + padding,
                  cols * (width + padding) + padding, channels), 255, np.uint8)
  for index, image in enumerate(images):
    r, c = divmod(index, cols)
    top, left = padding + r * (height + padding), padding + c * (width + padding)
    grid[top:top + height, left:left + width] = image
  return grid


def save_grid(images: np.ndarray, path: str, rows: int | None = None,
              scale: int = 1) -> str:
  """Writes a grid PNG atomically (temporary file, then rename)."""
  grid = make_grid(images, rows)
  picture = Image.fromarray(grid[..., 0] if grid.shape[-1] == 1 else grid)
  if scale > 1:
    picture = picture.resize((picture.width * scale, picture.height * scale),
                             Image.NEAREST)
  with files.atomic_write(path, "wb") as f:
    picture.save(f, format="PNG")
  return path
