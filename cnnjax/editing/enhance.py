"""Automatic colour and contrast with a trained enhance run, at any size.

  enhancer = enhance.load("runs/enhance")          # an enhance run's model
  params = enhancer.predict(pixels)                # uint8 [H, W, 3] -> [P]
  out = enhancer.apply(pixels, params)             # uint8 [H, W, 3]

The network sees the whole image squashed to data.resolution square (PIL's
antialiased bilinear resize, the one the training pipeline uses; aspect
does not matter to global statistics); the parameters it predicts are
applied to every pixel at full resolution. Adjustments are per pixel, so
`map_pixels` works through an image in chunks of at most CHUNK_PIXELS (a
power of two: a few compiled programs serve every size), and memory holds
the image in 8 bits (in and out) plus one chunk.

Also here: scikit-image's baselines, as a user would call them.
"""

import functools

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
from flax import nnx
from PIL import Image

from cnnjax import models, sharding
from cnnjax import workdir as workdir_lib
from cnnjax.data import transforms
from cnnjax.editing import adjust
from cnnjax.errors import UserError
from cnnjax.models import variables

CHUNK_PIXELS = 1 << 18  # 3 MiB of float32 RGB; 24 MiB for the tone curve
MIN_CHUNK_PIXELS = 1 << 12


@functools.partial(jax.jit, static_argnames=("fn", "to_uint8"))
def _map_chunk(fn, chunk, params, to_uint8: bool):
  values = fn(chunk.astype(jnp.float32) / 255.0, params)
  if to_uint8:
    return jnp.round(values * 255.0).astype(jnp.uint8)
  return values


def map_pixels(fn, pixels: np.ndarray, params, to_uint8: bool = True
               ) -> np.ndarray:
  """`fn(values in [0, 1], params)` (adjust.correct or adjust.degrade) on
  every pixel of a uint8 [H, W, 3] image, chunk by chunk: uint8 (rounded)
  or float32 [H, W, 3] in [0, 1]."""
  flat = np.asarray(pixels).reshape(-1, 3)
  out = np.empty(flat.shape, np.uint8 if to_uint8 else np.float32)
  params = jnp.asarray(params, jnp.float32)
  # Chunks of a power of two pixels, padded: a few programs for all sizes.
  size = min(CHUNK_PIXELS, max(MIN_CHUNK_PIXELS,
                               1 << (len(flat) - 1).bit_length()))
  for start in range(0, len(flat), size):
    chunk = flat[start:start + size]
    count = len(chunk)
    if count < size:
      chunk = np.pad(chunk, ((0, size - count), (0, 0)))
    out[start:start + count] = np.asarray(
        _map_chunk(fn, chunk, params, to_uint8))[:count]
  return out.reshape(np.shape(pixels))


def downscale(pixels: np.ndarray, size: int) -> np.ndarray:
  """uint8 [H, W, 3] -> uint8 [size, size, 3], the whole image squashed
  (PIL's antialiased bilinear, as transforms.resize_bilinear)."""
  picture = Image.fromarray(np.asarray(pixels))
  return np.asarray(picture.resize((size, size), Image.BILINEAR))


def build(model: dict, data: dict, seed: int = 0) -> nnx.Module:
  """The enhancer network that a config's `model` and `data` sections
  describe (the enhance task builds its network here too)."""
  return models.build(
      "enhancer", ml_collections.ConfigDict(dict(model["enhancer"])),
      resolution=data["resolution"], channels=data["channels"],
      num_outputs=adjust.NUM_PARAMS,
      compute_dtype=model.get("compute_dtype", "float32"),
      rngs=nnx.Rngs(seed))


def graphdef(model: dict, data: dict) -> nnx.GraphDef:
  return nnx.graphdef(nnx.eval_shape(lambda: build(model, data)))


def predict(graph: nnx.GraphDef, network: variables.Network, images01,
            params=None) -> jax.Array:
  """Correction parameters [B, P] of images [B, H, W, 3] in [0, 1] (the
  network sees them in [-1, 1], as every cnnjax network)."""
  return variables.merge(graph, network, params)(images01 * 2.0 - 1.0)


class Enhancer:
  """A trained enhancer: predicts parameters, applies them at any size."""

  def __init__(self, graph: nnx.GraphDef, network: variables.Network,
               size: int, step: int | None = None):
    self.size = size  # the run's data.resolution
    self.step = step
    self._network = network
    self._predict = jax.jit(functools.partial(predict, graph))

  def predict(self, pixels: np.ndarray) -> np.ndarray:
    """The correction parameters [P] (adjust's layout) of a uint8
    [H, W, 3] image."""
    small = transforms.to_float(downscale(pixels, self.size)[None], 3)
    return np.asarray(self._predict(self._network, (small + 1.0) / 2.0))[0]

  def apply(self, pixels: np.ndarray, params, to_uint8: bool = True
            ) -> np.ndarray:
    """`params` applied to a uint8 [H, W, 3] image (adjust.correct)."""
    return map_pixels(adjust.correct, pixels, params, to_uint8)

  def __call__(self, pixels: np.ndarray, to_uint8: bool = True):
    """(enhanced image, its parameters [P])."""
    params = self.predict(pixels)
    return self.apply(pixels, params, to_uint8), params

  def warm_up(self) -> None:
    """Compiles both programs, so that timings measure work."""
    self(np.zeros((self.size, self.size, 3), np.uint8))


def load(workdir: str, step=None) -> Enhancer:
  """The enhancer of an enhance run's checkpoint (None: the newest), read
  from the workdir's files (config.json and the checkpoint's `enhancer`),
  not through the task, so this layer sits below the tasks."""
  values = workdir_lib.read_config(workdir)
  task = values.get("task")
  if task != "enhance":
    raise UserError(f"{workdir} holds a {task} run; `cnnjax enhance` needs "
                    "an enhance run (cnnjax train --config "
                    "configs/enhance.py:folder=PHOTOS).")
  try:
    model, data = values["model"], values["data"]
    graph = graphdef(model, data)
  except (KeyError, TypeError) as error:
    raise UserError(f"The config.json of {workdir} lacks {error}; it is not "
                    "one this version of cnnjax can read.") from None
  abstract = sharding.abstract_of(
      lambda: variables.split(build(model, data))[1], sharding.make_mesh())
  found, network = workdir_lib.restore_subtree(workdir, "enhancer", abstract,
                                               step)
  return Enhancer(graph, jax.device_get(network), data["resolution"], found)


def _exposure_module():
  try:
    from skimage import exposure  # a slow import, and an optional package
  except ImportError:
    raise UserError("the baselines (equalize_adapthist, rescale_intensity) "
                    "need scikit-image: pip install scikit-image (it is in "
                    "cnnjax's dev extras).") from None
  return exposure


def equalize_adapthist(image: np.ndarray) -> np.ndarray:
  """skimage.exposure.equalize_adapthist at its defaults (CLAHE on HSV's
  value, clip_limit 0.01, tiles of 1/8 of the image): float [H, W, 3] in
  [0, 1] -> float64 [H, W, 3]."""
  return _exposure_module().equalize_adapthist(np.asarray(image, np.float64))


def rescale_intensity(image: np.ndarray, per_channel: bool = False
                      ) -> np.ndarray:
  """A contrast stretch of the 2nd-98th percentiles to [0, 1], as
  skimage's own example ("Histogram equalization") does it: over all three
  channels together (which keeps hues), or `per_channel` (which also
  stretches away a colour cast)."""
  exposure = _exposure_module()

  def stretch(values):
    low, high = np.percentile(values, (2, 98))
    if high <= low:  # a flat image (or channel): nothing to stretch
      return values
    return exposure.rescale_intensity(values, in_range=(low, high),
                                      out_range=(0.0, 1.0))

  image = np.asarray(image, np.float64)
  if not per_channel:
    return stretch(image)
  return np.stack([stretch(channel) for channel in np.moveaxis(image, -1, 0)],
                  axis=-1)


BASELINES = {
    "equalize_adapthist": equalize_adapthist,
    "rescale_intensity": rescale_intensity,
    "rescale_intensity_per_channel": functools.partial(rescale_intensity,
                                                       per_channel=True),
}
