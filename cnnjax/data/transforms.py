"""Per-batch image preprocessing: square crop, pad or resize, channels, scale.

Images of any size and aspect ratio lose the ends of their longer side to
the largest square (centered, or at a given position for random crops),
which is then padded or resized: for resizing, much as scaling the shorter
side to the resolution and cropping would.

Everything works on a whole batch at once where it can (numpy slicing and
arithmetic on [B, H, W, C]); only antialiased bilinear resizing goes image by
image, through PIL, whose C loop is fast for small images.
"""

import numpy as np
from PIL import Image

from cnnjax.errors import ConfigError, DataError

RESIZE_METHODS = ("auto", "pad", "bilinear", "nearest")
# "auto" pads instead of resizing when at most this many pixels are missing:
# 28 -> 32 keeps every Fashion-MNIST pixel as it is.
MAX_AUTO_PAD = 4
# Padding is in the [-1, 1] sense: uint8 0 becomes -1, the background value.
PAD_VALUE = 0
# ITU-R BT.601 luma weights, as PIL's convert("L") uses.
LUMA_WEIGHTS = np.array([0.299, 0.587, 0.114], dtype=np.float32)


def resolve_method(method: str, side: int, resolution: int) -> str:
  """What to do to a square image of `side` px: "none", "pad", "bilinear"
  or "nearest"."""
  if method not in RESIZE_METHODS:
    raise ConfigError(f"data.resize_method '{method}' is unknown; choose one "
                      f"of {RESIZE_METHODS}.")
  if side == resolution:
    return "none"
  if method == "auto":
    small_gap = side < resolution and resolution - side <= MAX_AUTO_PAD
    return "pad" if small_gap else "bilinear"
  if method == "pad" and side > resolution:
    raise DataError(f"data.resize_method 'pad' cannot shrink {side}x{side} "
                    f"images to {resolution}x{resolution}; use 'auto', "
                    f"'bilinear' or 'nearest', or a larger resolution.")
  return method


def center_crop_square(image: np.ndarray) -> np.ndarray:
  """The largest centered square of an [H, W, C] (or [B, H, W, C]) image."""
  return crop_square(image, None)


def crop_square(image: np.ndarray, position: float | None) -> np.ndarray:
  """The largest square of an [H, W, C] (or [B, H, W, C]) image, at
  `position` in [0, 1) along the longer side (0: its start; None: centered).

  Each of the longer side's L - S + 1 offsets is equally likely for a
  uniform `position`; a square image has only one.
  """
  height, width = image.shape[-3], image.shape[-2]
  side = min(height, width)

  def start(length: int) -> int:
    slack = length - side
    if position is None:
      return slack // 2
    return min(int(position * (slack + 1)), slack)

  top, left = start(height), start(width)
  return image[..., top:top + side, left:left + side, :]


def pad_to(images: np.ndarray, resolution: int) -> np.ndarray:
  """Pads square uint8 [B, S, S, C] images evenly to [B, R, R, C]."""
  gap = resolution - images.shape[1]
  before, after = gap // 2, gap - gap // 2
  widths = ((0, 0), (before, after), (before, after), (0, 0))
  return np.pad(images, widths, constant_values=PAD_VALUE)


def resize_nearest(images: np.ndarray, resolution: int) -> np.ndarray:
  """Nearest-neighbour resize of square [B, S, S, C] images, by pixel
  centers: output pixel i samples input floor((i + 0.5) * S / R)."""
  side = images.shape[1]
  source = ((np.arange(resolution) + 0.5) * side / resolution).astype(np.int64)
  return images[:, source][:, :, source]


def resize_bilinear(image: np.ndarray, resolution: int) -> np.ndarray:
  """Antialiased bilinear resize of one square uint8 [S, S, C] image (PIL)."""
  channels = image.shape[-1]
  pil = Image.fromarray(image[..., 0] if channels == 1 else image)
  out = np.asarray(pil.resize((resolution, resolution), Image.BILINEAR))
  return out.reshape(resolution, resolution, channels)


def to_resolution(images, resolution: int, method: str,
                  crop_positions: np.ndarray | None = None) -> np.ndarray:
  """Crops to square and pads/resizes a batch to uint8 [B, R, R, C].

  `images` is a uint8 [B, H, W, C] array, or a list of [H, W, C] arrays of
  varying shapes (then each image gets its own crop and resize decision).
  `crop_positions` (float [B] in [0, 1), see `crop_square`) places each
  image's square; None centers them.
  """
  if isinstance(images, np.ndarray) and crop_positions is None:
    return _square_batch_to_resolution(center_crop_square(images), resolution,
                                       method)
  if crop_positions is None:
    crop_positions = [None] * len(images)
  squares = [crop_square(image, position)
             for image, position in zip(images, crop_positions)]
  if all(square.shape == squares[0].shape for square in squares):
    return _square_batch_to_resolution(np.stack(squares), resolution, method)
  channels = {square.shape[-1] for square in squares}
  if len(channels) != 1:
    raise DataError(f"a batch mixes images with {sorted(channels)} channels.")
  return np.concatenate([
      _square_batch_to_resolution(square[None], resolution, method)
      for square in squares])


def _square_batch_to_resolution(images: np.ndarray, resolution: int,
                                method: str) -> np.ndarray:
  action = resolve_method(method, images.shape[1], resolution)
  if action == "none":
    return images
  if action == "pad":
    return pad_to(images, resolution)
  if action == "nearest":
    return resize_nearest(images, resolution)
  return np.stack([resize_bilinear(image, resolution) for image in images])


def to_float(images: np.ndarray, channels: int) -> np.ndarray:
  """uint8 [B, R, R, C] -> float32 [B, R, R, channels] in [-1, 1].

  Gray becomes RGB by repeating; RGB becomes gray by BT.601 luma, computed in
  float so no rounding is added.
  """
  have = images.shape[-1]
  if have not in (1, 3):
    raise DataError(f"images have {have} channels; only gray (1) and RGB (3)"
                    f" are supported.")
  if channels not in (1, 3):
    raise ConfigError(f"data.channels must be 1 or 3, got {channels}.")
  if have == 3 and channels == 1:
    values = images.astype(np.float32) @ LUMA_WEIGHTS
    # The float32 weights sum to 1 only up to rounding; keep white at 255.
    values = np.minimum(values, np.float32(255.0))[..., None]
  else:
    values = images.astype(np.float32)
  scaled = values / np.float32(127.5) - np.float32(1.0)
  if have == 1 and channels == 3:
    scaled = np.repeat(scaled, 3, axis=-1)
  return scaled
