"""Enhancers: a downscaled image -> global adjustment parameters
(cnnjax.editing.adjust), for automatic colour and contrast.

  cnn   3x3 stride-2 convolutions (g, 2g, 4g, 8g, ... capped at 8g) with
        LeakyReLU, then the mean and the maximum of the last feature map
        over all positions and (histogram_bins > 0) the image's histograms
        of R, G, B and luma, then a hidden dense layer and a linear head

The histograms (soft: each value shares a count between its two nearest
bins) hand the head what tone and contrast depend on, where the clipped
ends are and how values spread, without making the convolutions find
percentiles by themselves.

No normalisation layers: batch, group or instance norm would remove each
image's overall brightness and contrast, which is what the network must
measure. The pooled features make it work on any input size (training
crops and downscaled photographs alike). The head starts at zero, so an
untrained enhancer answers all-zero parameters: the identity correction.
"""

import itertools

import jax
import jax.numpy as jnp
from flax import nnx

from cnnjax.models import layers


class CnnEnhancer(nnx.Module):
  """[B, H, W, C] images in [-1, 1] -> [B, num_outputs] parameters."""

  def __init__(self, *, base_width: int = 16, num_levels: int = 4,
               hidden_dim: int = 64, histogram_bins: int = 16,
               resolution: int, channels: int, num_outputs: int,
               rngs: nnx.Rngs, dtype=None):
    del resolution  # pooled: any input size at least 2^num_levels
    widths = [channels] + [base_width * 2 ** min(i, 3)
                           for i in range(num_levels)]
    self.convs = nnx.List([
        nnx.Conv(a, b, kernel_size=(3, 3), strides=(2, 2), padding="SAME",
                 dtype=dtype, rngs=rngs)
        for a, b in itertools.pairwise(widths)])
    self.histogram_bins = histogram_bins
    num_histograms = channels + 1 if channels == 3 else channels
    self.hidden = nnx.Linear(2 * widths[-1] + num_histograms * histogram_bins,
                             hidden_dim, dtype=dtype, rngs=rngs)
    self.head = nnx.Linear(hidden_dim, num_outputs,
                           kernel_init=nnx.initializers.zeros, dtype=dtype,
                           rngs=rngs)

  @classmethod
  def config_problems(cls, fields: dict, resolution: int) -> list[str]:
    problems = layers.config_problems(fields, "base_width", "num_levels",
                                      "hidden_dim")
    if fields["histogram_bins"] != 0 and fields["histogram_bins"] < 2:
      problems.append(f"histogram_bins={fields['histogram_bins']} must be 0 "
                      "(none) or at least 2.")
    if not problems and resolution < 2 ** fields["num_levels"]:
      problems.append(f"num_levels={fields['num_levels']} needs images of "
                      f"at least {2 ** fields['num_levels']} px, not "
                      f"{resolution}; use at most "
                      f"{max(resolution.bit_length() - 1, 1)} levels.")
    return problems

  def __call__(self, x: jax.Array) -> jax.Array:
    features = [histograms(x, self.histogram_bins)] if self.histogram_bins \
        else []
    for conv in self.convs:
      x = layers.leaky_relu(conv(x))
    # Mean and max: the max sees highlights (a white point) that the mean
    # blurs away.
    pooled = jnp.concatenate([jnp.mean(x, axis=(1, 2)),
                              jnp.max(x, axis=(1, 2))] + features, axis=-1)
    return layers.output(self.head(layers.leaky_relu(self.hidden(pooled))))


# ITU-R BT.601 luma, as cnnjax.data.transforms and cnnjax.editing.adjust.
LUMA = (0.299, 0.587, 0.114)


def histograms(images: jax.Array, bins: int) -> jax.Array:
  """Soft histograms [B, (C + 1) * bins] of each channel of [B, H, W, C]
  images in [-1, 1] (and of luma, for RGB): bin centres evenly from 0 to 1
  of the [0, 1] values, linear weights to the two nearest; each sums to 1."""
  values = (jnp.clip(images.astype(jnp.float32), -1.0, 1.0) + 1.0) / 2.0
  if values.shape[-1] == 3:
    luma = values @ jnp.asarray(LUMA, jnp.float32)
    values = jnp.concatenate([values, luma[..., None]], axis=-1)
  centres = jnp.linspace(0.0, 1.0, bins)
  weights = jax.nn.relu(1.0 - jnp.abs(values[..., None] - centres) *
                        (bins - 1))  # [B, H, W, C, bins]
  return jnp.mean(weights, axis=(1, 2)).reshape(images.shape[0], -1)
