"""The losses of Gatys style transfer and the colour math around them, as
pure functions of one image's activations (no batch axis).

Normalisation follows PyTorch's "Neural Transfer Using PyTorch" tutorial,
which `experiments/2026-12-03-style-transfer/reference.py` checks us against:

  gram(F)       = F Fᵀ / (C·H·W)           F: C x (H·W) features of a layer
  style loss    = mean over the C² entries of (gram(x) - gram(style))²
  content loss  = mean over C·H·W of (F(x) - F(content))²

Gatys et al. (2016, eq. 4) instead weigh a layer's style error by
1/(4 N² M²) on unnormalised Grams (N = C, M = H·W), which is the tutorial's
loss times C²/4: `GRAM_NORMS["paper"]`. Their content loss (½ Σ) is not
offered: with it, one set of weights could not serve both.

A mask restricts the style to a region: the Gram of the masked positions,
weighted by the mask and divided by C·(mask area) in place of C·H·W, so
that a mask of ones gives the plain Gram.

Colour preservation (Gatys et al. 2016, "Preserving color in neural
artistic style transfer") transfers the style on luminance alone and keeps
the content's chroma, in YIQ; `luminance_bounds` keeps the result inside
the RGB cube, so that no clipping changes the chroma afterwards.
"""

import jax
import jax.numpy as jnp
import numpy as np

# Where the content and style are measured (cnnjax.nets.vgg's layer names).
LAYER_PRESETS = {
    # Gatys et al. 2016: responses (after the ReLU) of conv4_2 for the
    # content, of the first conv of every block for the style.
    "gatys": (("relu4_2",),
              ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")),
    # The PyTorch tutorial numbers convolutions in order (conv_4 is the
    # fourth: conv2_2) and measures them before their ReLU.
    "tutorial": (("conv2_2",),
                 ("conv1_1", "conv1_2", "conv2_1", "conv2_2", "conv3_1")),
}
GRAM_NORMS = ("tutorial", "paper")

# NTSC YIQ of RGB; I and Q rows sum to 0, so gray maps to (Y, 0, 0) and the
# same matrix serves images in [0, 1] and in [-1, 1].
RGB_TO_YIQ = np.array([[0.299, 0.587, 0.114],
                       [0.595716, -0.274453, -0.321263],
                       [0.211456, -0.522591, 0.311135]])
YIQ_TO_RGB = np.linalg.inv(RGB_TO_YIQ)


def gram(features: jax.Array, mask: jax.Array | None = None) -> jax.Array:
  """[C, C] Gram matrix of [H, W, C] features, divided by C·H·W; with a
  [H, W] mask in [0, 1], of the masked positions, divided by C·Σ mask."""
  channels = features.shape[-1]
  flat = features.reshape(-1, channels).astype(jnp.float32)
  if mask is None:
    return flat.T @ flat / flat.size
  weights = mask.reshape(-1, 1).astype(jnp.float32)
  # The area is at least one position, so an empty mask gives a zero Gram
  # (and zero gradients), never NaN.
  area = jnp.maximum(jnp.sum(weights), 1.0)
  return (flat * weights).T @ flat / (channels * area)


def style_layer_loss(features: jax.Array, target_gram: jax.Array,
                     mask: jax.Array | None = None,
                     norm: str = "tutorial") -> jax.Array:
  """One layer's style loss (see the module docstring for `norm`)."""
  error = jnp.mean((gram(features, mask) - target_gram) ** 2)
  if norm == "paper":
    return error * features.shape[-1] ** 2 / 4
  if norm != "tutorial":
    raise ValueError(f"gram norm {norm!r}: use one of {GRAM_NORMS}")
  return error


def content_layer_loss(features: jax.Array, target: jax.Array) -> jax.Array:
  """Mean squared error of one layer's activations."""
  return jnp.mean((features.astype(jnp.float32) - target) ** 2)


def total_variation(image: jax.Array) -> jax.Array:
  """Mean squared difference of vertical neighbours plus that of horizontal
  ones, of an [H, W, C] image in [-1, 1]."""
  down = jnp.mean((image[1:] - image[:-1]) ** 2)
  right = jnp.mean((image[:, 1:] - image[:, :-1]) ** 2)
  return down + right


def resize_mask(mask: jax.Array, height: int, width: int) -> jax.Array:
  """A [H, W] mask at a layer's resolution, by area-weighted averaging."""
  if mask.shape == (height, width):
    return mask
  return jnp.clip(jax.image.resize(mask, (height, width), "linear",
                                   antialias=True), 0.0, 1.0)


# Colour --------------------------------------------------------------------
def to_yiq(rgb: jax.Array) -> jax.Array:
  return rgb @ jnp.asarray(RGB_TO_YIQ.T, rgb.dtype)


def from_yiq(yiq: jax.Array) -> jax.Array:
  return yiq @ jnp.asarray(YIQ_TO_RGB.T, yiq.dtype)


def luminance(rgb: jax.Array) -> jax.Array:
  """[..., 1] Y of [..., 3] RGB."""
  return to_yiq(rgb)[..., :1]


def match_luminance(style_y: jax.Array, content_y: jax.Array) -> jax.Array:
  """The style's luminance shifted and scaled to the content's mean and
  standard deviation (Gatys et al. 2016's luminance-only transfer)."""
  scale = jnp.std(content_y) / jnp.maximum(jnp.std(style_y), 1e-6)
  return (style_y - jnp.mean(style_y)) * scale + jnp.mean(content_y)


def luminance_bounds(content_rgb: jax.Array) -> tuple[jax.Array, jax.Array]:
  """Per pixel, the range of Y for which (Y, the content's I and Q) lies
  in the RGB cube [-1, 1]³; it holds the content's own Y."""
  # RGB = Y + offset, the offset set by I and Q (YIQ_TO_RGB's first column
  # is ones).
  offsets = from_yiq(to_yiq(content_rgb).at[..., 0].set(0.0))
  low = -1.0 - jnp.min(offsets, axis=-1, keepdims=True)
  high = 1.0 - jnp.max(offsets, axis=-1, keepdims=True)
  return low, high


def with_content_chroma(y: jax.Array, content_rgb: jax.Array) -> jax.Array:
  """RGB of luminance `y` [..., 1] (clamped to `luminance_bounds`) and the
  content's chroma: in the RGB cube, with exactly the content's I and Q."""
  low, high = luminance_bounds(content_rgb)
  yiq = to_yiq(content_rgb).at[..., :1].set(jnp.clip(y, low, high))
  return from_yiq(yiq)
