"""Held-out evaluation of an enhance run: PSNR and SSIM to the original
photographs of the degraded inputs, of the learned model's corrections, of
scikit-image's baselines and of the exact inverse of each degradation.

The held-out set: the first photographs of eval.dataset's eval.split
(data.name's when empty), at their own size (eval.size 0) or as their
centre square at eval.size; image i is photo i % num_photos with
degradation i, drawn from the config's `degrade` ranges with the key
fold_in(PRNGKey(eval.seed), i), then stored in 8 bits as a photo file
would be. Every method's output is scored in float, in [0, 1]:

  degraded                        the input, as it is
  enhanced                        the model (cnnjax.editing.enhance)
  equalize_adapthist, rescale_intensity, rescale_intensity_per_channel
                                  scikit-image (enhance.BASELINES), on
                                  the degraded input
  oracle                          adjust.inverse of the true degradation:
                                  what a perfect prediction of the
                                  model's parameters reaches (clipping and
                                  8-bit storage lose the rest)

Scores are means over the images (PSNR in dB of each image's MSE).
"""

import time

import jax
import jax.numpy as jnp
import numpy as np

from cnnjax import data
from cnnjax.data import transforms
from cnnjax.data.pipeline import read_records
from cnnjax.editing import adjust, enhance
from cnnjax.metrics import reconstruction

GRID_SIZE = 128  # side of the photos in training's sample grids
GRID_COLUMNS = 8


def read_photos(config, count: int, size: int) -> tuple[list, str]:
  """Up to `count` held-out photos as uint8 [H, W, 3] (gray repeated), at
  their own size (`size` 0) or as centre squares of `size`; and where they
  came from, in words."""
  name = config.eval.dataset or config.data.name
  source = data.load_source(name, config.eval.split,
                            config.data.data_dir or None)
  photos = []
  for index in range(min(count, len(source))):
    images, _ = read_records(source.source, np.array([index]))
    image = np.asarray(images[0])
    if size:
      image = transforms.to_resolution([image], size, "bilinear")[0]
    photos.append(np.repeat(image, 3, axis=-1) if image.shape[-1] == 1
                  else image)
  return photos, source.description


def degradations(config, count: int) -> np.ndarray:
  """The fixed degradations [count, P] of the held-out images."""
  key = jax.random.PRNGKey(config.eval.seed)
  ranges = config.degrade.to_dict()
  # Jitted: one program, where eager vmap compiles op by op.
  return np.asarray(jax.jit(jax.vmap(lambda i: adjust.sample(
      jax.random.fold_in(key, i), (), ranges)))(jnp.arange(count)))


@jax.jit
def _scores(image, original):
  """(PSNR, SSIM) of float [H, W, 3] images in [0, 1]."""
  image, original = image[None], original[None]
  return (reconstruction.psnr(image, original, 1.0)[0],
          reconstruction.ssim(image, original, 1.0)[0])


class HeldOut:
  """The held-out originals and their degraded copies (uint8 [H, W, 3])."""

  def __init__(self, config, count: int, size: int):
    photos, self.description = read_photos(config, count, size)
    self.num_photos = len(photos)
    self.params = degradations(config, count)
    self.originals = [photos[i % len(photos)] for i in range(count)]
    self.degraded = [enhance.map_pixels(adjust.degrade, original, params)
                     for original, params in zip(self.originals,
                                                 self.params)]

  def __len__(self) -> int:
    return len(self.originals)


class Evaluator:
  """The metric row of an enhancer on the held-out set. The baselines'
  and the oracle's scores do not depend on the model: computed once."""

  def __init__(self, config, num_images: int | None = None):
    self.held_out = HeldOut(config, num_images or config.eval.num_images,
                            config.eval.size)
    self.size = config.eval.size
    self._fixed = None

  def _score(self, outputs) -> tuple[float, float]:
    pairs = [_scores(jnp.asarray(output, jnp.float32),
                     jnp.asarray(original, jnp.float32) / 255.0)
             for output, original in zip(outputs, self.held_out.originals)]
    return (float(np.mean([float(p) for p, _ in pairs])),
            float(np.mean([float(s) for _, s in pairs])))

  def fixed_scores(self) -> dict:
    """Scores of the degraded inputs, the baselines and the oracle."""
    if self._fixed is None:
      degraded01 = [d / 255.0 for d in self.held_out.degraded]
      outputs = {"degraded": degraded01}
      for name, baseline in enhance.BASELINES.items():
        outputs[name] = [baseline(image) for image in degraded01]
      outputs["oracle"] = [
          enhance.map_pixels(adjust.correct, degraded,
                             adjust.inverse(params), to_uint8=False)
          for degraded, params in zip(self.held_out.degraded,
                                      self.held_out.params)]
      self._fixed = {}
      for name, images in outputs.items():
        psnr, ssim = self._score(images)
        self._fixed.update({f"psnr_{name}": psnr, f"ssim_{name}": ssim})
    return self._fixed

  def __call__(self, enhancer: enhance.Enhancer) -> dict:
    enhancer.warm_up()
    start = time.perf_counter()
    enhanced = [enhancer(image, to_uint8=False)[0]
                for image in self.held_out.degraded]
    seconds = time.perf_counter() - start
    psnr, ssim = self._score(enhanced)
    return {"num_images": len(self.held_out),
            "num_photos": self.held_out.num_photos,
            "size": self.size or "native",
            "psnr_enhanced": psnr, "ssim_enhanced": ssim,
            **self.fixed_scores(),
            "images_per_second": round(len(enhanced) / seconds, 2)}


def grid_rows(enhancer: enhance.Enhancer, held_out: HeldOut) -> np.ndarray:
  """Rows degraded | enhanced | original of the held-out images, as one
  [3 N, S, S, 3] batch in [-1, 1] for images.save_grid(rows=3)."""
  enhanced = [enhancer(image)[0] for image in held_out.degraded]
  rows = np.stack(held_out.degraded + enhanced + held_out.originals)
  return rows.astype(np.float32) / 127.5 - 1.0
