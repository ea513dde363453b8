"""AdaIN (Huang & Belongie 2017, "Arbitrary Style Transfer in Real-time
with Adaptive Instance Normalization"): the layer, its losses and the
stylisation of images, as pure functions.

  f = VGG-19 up to relu4_1 (frozen), g = a decoder (cnnjax.models.decoder)
  t = AdaIN(f(c), f(s)) = σ(f(s)) · (f(c) − μ(f(c))) / σ(f(c)) + μ(f(s))
  stylised = g(α t + (1 − α) f(c))

μ and σ are per image and channel, over the positions; σ² is the mean
squared deviation (biased, as the Torch code's nn.BatchNormalization and
std(dim, true) compute it) plus EPS = 1e-5, the paper code's epsilon. The
PyTorch port (naoto0804/pytorch-AdaIN) uses the unbiased variance; at
relu4_1's 32x32 positions of a 256 px image the two differ by 0.05%.

Training (the paper's section 6): content loss |f(g(t)) − t|² at relu4_1,
style loss Σ over relu1_1, relu2_1, relu3_1, relu4_1 of |μ(f_l(g(t))) −
μ(f_l(s))|² + |σ(...) − σ(...)|², both mean squared errors.

Inference (section 7.1): the content-style trade-off α; several styles as
t = Σ_k w_k AdaIN(f(c), f(s_k)); spatial control with masks, each style's
AdaIN using the content statistics of its own region; colour preservation
(`stylize_one`).
"""

import jax
import jax.numpy as jnp

from cnnjax.editing import style_losses

EPS = 1e-5
CONTENT_LAYER = "relu4_1"
STYLE_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1")


def mean_std(features: jax.Array, mask: jax.Array | None = None,
             eps: float = EPS) -> tuple[jax.Array, jax.Array]:
  """(μ, σ), each [B, 1, 1, C], of features [B, H, W, C] over the
  positions; with a mask [B, H, W] or [H, W] in [0, 1], over the positions
  it weighs (an empty mask gives the statistics of nothing: μ 0, σ √eps)."""
  x = features.astype(jnp.float32)
  if mask is None:
    mean = jnp.mean(x, axis=(1, 2), keepdims=True)
    variance = jnp.mean((x - mean) ** 2, axis=(1, 2), keepdims=True)
  else:
    weights = jnp.broadcast_to(mask, x.shape[:3])[..., None]
    area = jnp.maximum(jnp.sum(weights, axis=(1, 2), keepdims=True), 1e-8)
    mean = jnp.sum(weights * x, axis=(1, 2), keepdims=True) / area
    variance = jnp.sum(weights * (x - mean) ** 2, axis=(1, 2),
                       keepdims=True) / area
  return mean, jnp.sqrt(variance + eps)


def adain(content: jax.Array, style: jax.Array, eps: float = EPS,
          content_mask: jax.Array | None = None) -> jax.Array:
  """The content features [B, H, W, C] with the style features'
  statistics (style [B or 1, h, w, C], any size); with `content_mask`, the
  content's statistics are those of the masked region."""
  content_mean, content_std = mean_std(content, content_mask, eps)
  style_mean, style_std = mean_std(style, None, eps)
  return (content - content_mean) / content_std * style_std + style_mean


def target(content: jax.Array, styles: list[jax.Array],
           weights: jax.Array | None = None,
           masks: jax.Array | None = None, alpha: float = 1.0,
           eps: float = EPS) -> jax.Array:
  """What the decoder decodes: α t + (1 − α) f(c).

  Args:
    content: f(c), [B, H, W, C].
    styles: f(s_k), each [B or 1, h_k, w_k, C].
    weights: [S] non-negative, summing to 1 (None: equal).
    masks: [S, H, W] in [0, 1] at the features' resolution (None: every
      style everywhere). A position takes the styles whose masks cover it,
      weighted by w_k m_k; positions no mask covers keep f(c).
    alpha: 1 all style, 0 the content's own features.
  """
  count = len(styles)
  weights = (jnp.full((count,), 1.0 / count) if weights is None else
             jnp.asarray(weights, jnp.float32))
  if masks is None:
    mixed = sum(weights[k] * adain(content, styles[k], eps)
                for k in range(count))
  else:
    shares = weights[:, None, None] * masks  # [S, H, W]
    total = jnp.sum(shares, axis=0)
    cover = jnp.clip(jnp.sum(masks, axis=0), 0.0, 1.0)[None, ..., None]
    mixed = sum((shares[k] / jnp.maximum(total, 1e-8))[None, ..., None] *
                adain(content, styles[k], eps, masks[k])
                for k in range(count))
    mixed = cover * mixed + (1 - cover) * content
  return alpha * mixed + (1 - alpha) * content


def content_loss(found: jax.Array, wanted: jax.Array) -> jax.Array:
  """Mean squared error of relu4_1 features."""
  return jnp.mean((found.astype(jnp.float32) - wanted) ** 2)


def style_loss(found: dict[str, jax.Array],
               wanted: dict[str, tuple[jax.Array, jax.Array]],
               eps: float = EPS) -> jax.Array:
  """Σ over the layers of wanted ({layer: (μ, σ)}) of the mean squared
  errors of μ and of σ of `found` ({layer: features})."""
  total = 0.0
  for layer, (mean, std) in wanted.items():
    found_mean, found_std = mean_std(found[layer], None, eps)
    total += (jnp.mean((found_mean - mean) ** 2) +
              jnp.mean((found_std - std) ** 2))
  return total


def stylize_one(encode, decode, content: jax.Array, styles: list[jax.Array],
                weights: jax.Array | None = None,
                masks: jax.Array | None = None, alpha: float = 1.0,
                preserve_color: bool = False) -> tuple[jax.Array, dict]:
  """One stylised image [H, W, 3] in [-1, 1] (H, W multiples of 8), and
  what `losses_one` needs to measure it.

  Args:
    encode: (images [B, H, W, 1 or 3] in [-1, 1], layers) -> {layer:
      features}, the run's VGG.
    decode: relu4_1 features -> images, the run's decoder.
    content: [H, W, 3] in [-1, 1].
    styles: each [h, w, 3] in [-1, 1].
    weights, masks, alpha: as `target`'s (masks [S, H, W] at the image's
      size).
    preserve_color: keep the content's colours: the style is transferred
      on luminance alone, the style's luminance matched to the content's
      mean and spread first, and the result takes the content's chroma (in
      YIQ, as the gatys method does: cnnjax.editing.style_losses).
  """
  source = content
  if preserve_color:
    content_y = style_losses.luminance(content)
    styles = [style_losses.match_luminance(style_losses.luminance(s),
                                           content_y) for s in styles]
    source = content_y  # the network sees gray images as gray RGB
  features = encode(source[None], (CONTENT_LAYER,))[CONTENT_LAYER]
  found = [encode(s[None], STYLE_LAYERS) for s in styles]
  if masks is not None:
    masks = jnp.stack([style_losses.resize_mask(m, *features.shape[1:3])
                       for m in masks])
  wanted = target(features, [f[CONTENT_LAYER] for f in found], weights,
                  masks, alpha)
  decoded = decode(wanted)
  image = jnp.clip(decoded[0], -1.0, 1.0)
  if preserve_color:
    image = style_losses.with_content_chroma(
        style_losses.luminance(image), content)
  statistics = [{layer: mean_std(f[layer]) for layer in STYLE_LAYERS}
                for f in found]
  return image, {"decoded": decoded, "target": wanted,
                 "statistics": statistics}


def losses_one(encode, parts: dict, weights: jax.Array | None = None
               ) -> dict[str, jax.Array]:
  """The training losses of one `stylize_one` result: its content loss
  against the target it decoded, and its style loss against each style,
  weighted by `weights` (None: equal)."""
  found = encode(parts["decoded"], STYLE_LAYERS)
  count = len(parts["statistics"])
  weights = (jnp.full((count,), 1.0 / count) if weights is None else
             jnp.asarray(weights, jnp.float32))
  return {"content_loss": content_loss(found[CONTENT_LAYER], parts["target"]),
          "style_loss": sum(weights[k] * style_loss(found, wanted)
                            for k, wanted in enumerate(parts["statistics"]))}
