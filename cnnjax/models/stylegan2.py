"""StyleGAN2 (Karras et al. 2020) as in NVlabs' stylegan2-ada-pytorch:
a mapping network to W, a synthesis network of modulated convolutions from
a learned constant with per-layer noise and skip toRGB outputs, and a
residual discriminator with minibatch standard deviation and projection
conditioning. The operations are in `style_ops`.

Widths: a layer at resolution r has min(channel_base // r, channel_max)
channels (the paper's channel_base = 32768, channel_max = 512; its CIFAR-10
config uses channel_base = 16384).

The generator's latent spaces, for encoders and edits:
  z  [N, latent_dim]       `__call__`'s input, as every family's.
  W  [N, w_dim]            `mapping(z, labels)`.
  W+ [N, num_ws, w_dim]    one w per layer: `synthesis(ws)`.

Randomness. In training, the GAN step passes `key`: per-layer noise and
style mixing (with probability `style_mixing`, the layers from a random
cutoff on take the w of a second latent) are drawn from it. Without a key
(sampling, evaluation, editing) the noise follows `noise_mode`: "random"
draws each sample's noise from a key hashed from its latent (fresh for each
latent, the same every time for one latent, so samples and metrics are
reproducible), "const" uses the fixed noise images drawn at
initialisation (what inversion wants), "none" adds no noise.
"""

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from cnnjax.models import layers
from cnnjax.models import style_ops as ops

NOISE_MODES = ("random", "const", "none")
RESOLUTIONS = (32, 64, 128, 256)  # data.resolution values it is built for


def _width(resolution: int, channel_base: int, channel_max: int) -> int:
  return min(channel_base // resolution, channel_max)


def _log2(resolution: int) -> int:
  return int(np.log2(resolution))


def _resolution_problems(resolution: int) -> list[str]:
  if resolution < 8 or resolution & (resolution - 1):
    return [f"... needs data.resolution a power of two >= 8, not "
            f"{resolution} (set data.resolution=32 for 28 px "
            f"Fashion-MNIST)."]
  return []


def _one_hot(labels, num_classes, dtype=jnp.float32):
  return jax.nn.one_hot(labels, num_classes, dtype=dtype)


class MappingNetwork(nnx.Module):
  """z (and a class embedding) -> w through `num_layers` dense layers with
  learning-rate multiplier `lr_mul`; tracks w_avg, the running mean of w in
  training, which truncation pulls toward."""

  def __init__(self, *, latent_dim: int, w_dim: int, num_layers: int,
               num_classes: int, lr_mul: float, w_avg_beta: float | None,
               rngs: nnx.Rngs, dtype=None):
    self.latent_dim, self.num_classes = latent_dim, num_classes
    self.embed = (ops.EqualizedLinear(num_classes, w_dim, rngs=rngs,
                                      dtype=dtype) if num_classes else None)
    features = latent_dim + (w_dim if num_classes else 0)
    dense = []
    for _ in range(num_layers):
      dense.append(ops.EqualizedLinear(features, w_dim, rngs=rngs,
                                       lr_mul=lr_mul, activation=True,
                                       dtype=dtype))
      features = w_dim
    self.layers = nnx.List(dense)
    self.w_avg_beta = w_avg_beta
    self.w_avg = (nnx.BatchStat(jnp.zeros((w_dim,), jnp.float32))
                  if w_avg_beta is not None else None)

  def __call__(self, z: jax.Array | None, labels: jax.Array | None,
               update_w_avg: bool = False) -> jax.Array:
    parts = []
    if self.latent_dim:
      parts.append(ops.normalize_2nd_moment(z.astype(jnp.float32)))
    if self.num_classes:
      if labels is None:
        raise ValueError(f"this model is conditional ({self.num_classes} "
                         "classes): pass labels")
      parts.append(ops.normalize_2nd_moment(
          self.embed(_one_hot(labels, self.num_classes))))
    x = jnp.concatenate(parts, axis=-1) if len(parts) > 1 else parts[0]
    for dense in self.layers:
      x = dense(x)
    x = layers.output(x)
    if update_w_avg and self.w_avg is not None:
      # w_avg <- lerp(mean w, w_avg, beta), as StyleGAN2's mapping network.
      mean = jnp.mean(jax.lax.stop_gradient(x), axis=0)
      self.w_avg[...] = mean + self.w_avg_beta * (self.w_avg[...] - mean)
    return x


class SynthesisLayer(nnx.Module):
  """Modulated 3x3 conv (upsampling first when `up`), noise, bias, lrelu."""

  def __init__(self, in_features: int, out_features: int, *, w_dim: int,
               resolution: int, up: bool, fused: bool, rngs: nnx.Rngs,
               dtype=None):
    self.affine = ops.EqualizedLinear(w_dim, in_features, bias_init=1.0,
                                      rngs=rngs, dtype=dtype)
    # No weight gain: demodulation normalises the kernel's scale away.
    self.weight = nnx.Param(jax.random.normal(
        rngs.params(), (3, 3, in_features, out_features)))
    self.bias = nnx.Param(jnp.zeros((out_features,)))
    self.noise_strength = nnx.Param(jnp.zeros(()))
    self.noise_const = nnx.BatchStat(jax.random.normal(
        rngs.params(), (resolution, resolution, 1)))
    self.up, self.fused, self.dtype = up, fused, dtype
    self.resolution = resolution

  def __call__(self, x: jax.Array, w: jax.Array, noise: jax.Array | None
               ) -> jax.Array:
    """`noise`: [N, r, r, 1] per-sample noise, or None for none; the
    constant noise is passed in as `self.noise_const`."""
    styles = self.affine(w)
    weight = self.weight[...]
    if self.dtype is not None:
      x, weight, styles = (a.astype(self.dtype) for a in (x, weight, styles))
    if self.up:
      x = ops.upsample2d(x, pad=1)
    x = ops.modulated_conv(x, weight, styles, demodulate=True,
                           fused=self.fused,
                           padding="VALID" if self.up else "SAME")
    if noise is not None:
      x = x + (noise * self.noise_strength[...]).astype(x.dtype)
    return ops.lrelu(x + self.bias[...].astype(x.dtype))


class ToRGB(nnx.Module):
  """A modulated 1x1 conv to the image's channels, not demodulated."""

  def __init__(self, in_features: int, channels: int, *, w_dim: int,
               fused: bool, rngs: nnx.Rngs, dtype=None):
    self.affine = ops.EqualizedLinear(w_dim, in_features, bias_init=1.0,
                                      rngs=rngs, dtype=dtype)
    self.weight = nnx.Param(jax.random.normal(
        rngs.params(), (1, 1, in_features, channels)))
    self.bias = nnx.Param(jnp.zeros((channels,)))
    self.gain = 1.0 / np.sqrt(in_features)
    self.fused, self.dtype = fused, dtype

  def __call__(self, x: jax.Array, w: jax.Array) -> jax.Array:
    styles = self.affine(w) * self.gain
    weight = self.weight[...]
    if self.dtype is not None:
      x, weight, styles = (a.astype(self.dtype) for a in (x, weight, styles))
    y = ops.modulated_conv(x, weight, styles, demodulate=False,
                           fused=self.fused)
    return y + self.bias[...].astype(y.dtype)


class SynthesisBlock(nnx.Module):
  """One resolution of the synthesis network: (the constant, or conv0 with
  upsampling), conv1, and toRGB added to the upsampled image so far."""

  def __init__(self, in_features: int, out_features: int, *, w_dim: int,
               resolution: int, channels: int, fused: bool, rngs: nnx.Rngs,
               dtype=None):
    layer = lambda a, up: SynthesisLayer(
        a, out_features, w_dim=w_dim, resolution=resolution, up=up,
        fused=fused, rngs=rngs, dtype=dtype)
    self.first = in_features == 0
    if self.first:
      self.const = nnx.Param(jax.random.normal(
          rngs.params(), (resolution, resolution, out_features)))
      self.convs = nnx.List([layer(out_features, False)])
    else:
      self.convs = nnx.List([layer(in_features, True),
                             layer(out_features, False)])
    self.torgb = ToRGB(out_features, channels, w_dim=w_dim, fused=fused,
                       rngs=rngs, dtype=dtype)

  @property
  def num_conv(self) -> int:
    return len(self.convs)

  def __call__(self, x, img, ws, noises):
    """ws: [N, num_conv + 1, w_dim]; noises: one per conv (or None)."""
    if self.first:
      x = jnp.broadcast_to(self.const[...], (ws.shape[0],
                                             *self.const.shape))
    for i, (conv, noise) in enumerate(zip(self.convs, noises)):
      x = conv(x, ws[:, i], noise)
    y = layers.output(self.torgb(x, ws[:, self.num_conv]))
    img = y if img is None else ops.upsample2d(img) + y
    return x, img


class Generator(nnx.Module):
  """StyleGAN2's generator: z -> image in about [-1, 1] (not clipped, as
  StyleGAN2's)."""

  resolutions = RESOLUTIONS

  def __init__(self, *, latent_dim: int = 512, w_dim: int = 512,
               mapping_layers: int = 8, channel_base: int = 32768,
               channel_max: int = 512, style_mixing: float = 0.9,
               mapping_lr_mul: float = 0.01, w_avg_beta: float = 0.995,
               noise_mode: str = "random", fused_modconv: bool = False,
               resolution: int, channels: int, num_classes: int = 0,
               rngs: nnx.Rngs, dtype=None):
    self.mapping_network = MappingNetwork(
        latent_dim=latent_dim, w_dim=w_dim, num_layers=mapping_layers,
        num_classes=num_classes, lr_mul=mapping_lr_mul,
        w_avg_beta=w_avg_beta, rngs=rngs, dtype=dtype)
    blocks, in_features = [], 0
    for log_res in range(2, _log2(resolution) + 1):
      res = 2 ** log_res
      out_features = _width(res, channel_base, channel_max)
      blocks.append(SynthesisBlock(
          in_features, out_features, w_dim=w_dim, resolution=res,
          channels=channels, fused=fused_modconv, rngs=rngs, dtype=dtype))
      in_features = out_features
    self.blocks = nnx.List(blocks)
    self.num_ws = sum(b.num_conv for b in blocks) + 1
    self.latent_dim, self.w_dim = latent_dim, w_dim
    self.num_classes = num_classes
    self.style_mixing = style_mixing
    self.noise_mode = noise_mode

  @classmethod
  def config_problems(cls, fields: dict, resolution: int) -> list[str]:
    problems = layers.config_problems(
        fields, "latent_dim", "w_dim", "mapping_layers", "channel_base",
        "channel_max", "mapping_lr_mul")
    problems += [p.replace("...", "the StyleGAN2 generator")
                 for p in _resolution_problems(resolution)]
    if not 0 <= fields["style_mixing"] <= 1:
      problems.append(f"style_mixing={fields['style_mixing']} must be a "
                      "probability in [0, 1].")
    if not 0 <= fields["w_avg_beta"] < 1:
      problems.append(f"w_avg_beta={fields['w_avg_beta']} must be in [0, 1).")
    if fields["noise_mode"] not in NOISE_MODES:
      problems.append(f"noise_mode={fields['noise_mode']!r} must be one of "
                      f"{NOISE_MODES}.")
    return problems

  # --- The latent spaces. ----------------------------------------------------

  @property
  def w_avg(self) -> jax.Array:
    return self.mapping_network.w_avg[...]

  def mapping(self, z: jax.Array, labels: jax.Array | None = None,
              truncation: float = 1.0, update_w_avg: bool = False
              ) -> jax.Array:
    """W: [N, w_dim], pulled toward w_avg by `truncation` psi < 1
    (psi = 0 gives w_avg itself)."""
    w = self.mapping_network(z, labels, update_w_avg=update_w_avg)
    if truncation != 1.0:
      w = self.w_avg + truncation * (w - self.w_avg)
    return w

  def broadcast(self, w: jax.Array) -> jax.Array:
    """W -> W+: the same w for every layer."""
    return jnp.broadcast_to(w[:, None], (w.shape[0], self.num_ws, w.shape[1]))

  def synthesis(self, ws: jax.Array, noise_mode: str | None = None,
                key: jax.Array | None = None,
                latents: jax.Array | None = None) -> jax.Array:
    """W+ [N, num_ws, w_dim] -> images. Noise: drawn from `key` when given;
    else `noise_mode` (default the generator's), "random" hashing
    `latents` (default ws) into each sample's key."""
    mode = noise_mode or self.noise_mode
    if key is None and mode == "random":
      key = _hash_keys(ws if latents is None else latents)
    x, img, index = None, None, 0
    for b, block in enumerate(self.blocks):
      noises = []
      for c, conv in enumerate(block.convs):
        size = conv.resolution
        if key is not None:
          noises.append(_draw_noise(key, 2 * b + c, ws.shape[0], size))
        elif mode == "const":
          noises.append(jnp.broadcast_to(conv.noise_const[...],
                                         (ws.shape[0], size, size, 1)))
        else:
          noises.append(None)
      x, img = block(x, img, ws[:, index:index + block.num_conv + 1], noises)
      index += block.num_conv
    return img

  def styles(self, z: jax.Array, labels: jax.Array | None = None,
             key: jax.Array | None = None, train: bool = False,
             truncation: float = 1.0) -> jax.Array:
    """z -> W+ [N, num_ws, w_dim]: in training, w_avg moves and (with a
    `key`) style mixing applies."""
    ws = self.broadcast(self.mapping(z, labels, truncation,
                                     update_w_avg=train))
    if train and key is not None and self.style_mixing > 0:
      ws = self._mix(ws, labels, jax.random.fold_in(key, 1))
    return ws

  def __call__(self, z: jax.Array, labels: jax.Array | None = None,
               train: bool = True, key: jax.Array | None = None,
               truncation: float = 1.0, noise_mode: str | None = None
               ) -> jax.Array:
    ws = self.styles(z, labels, key, train, truncation)
    if key is not None:
      return layers.output(self.synthesis(ws, key=jax.random.fold_in(key, 2)))
    if train and (noise_mode or self.noise_mode) == "random":
      noise_mode = "const"  # training without a key: deterministic
    return layers.output(self.synthesis(ws, noise_mode, latents=z))

  def _mix(self, ws, labels, key):
    """Style mixing regularisation: with probability `style_mixing`, the
    layers from a cutoff in [1, num_ws) on take the w of a second latent
    (which does not move w_avg)."""
    n = ws.shape[0]
    cutoff_key, mix_key, z_key = jax.random.split(key, 3)
    cutoff = jax.random.randint(cutoff_key, (n,), 1, self.num_ws)
    mixed = jax.random.uniform(mix_key, (n,)) < self.style_mixing
    cutoff = jnp.where(mixed, cutoff, self.num_ws)
    z2 = jax.random.normal(z_key, (n, self.latent_dim))
    ws2 = self.broadcast(self.mapping(z2, labels))
    keep = jnp.arange(self.num_ws)[None, :, None] < cutoff[:, None, None]
    return jnp.where(keep, ws, ws2)


def _hash_keys(latents: jax.Array) -> jax.Array:
  """One key per sample from the bits of its latent: [N, 2] uint32."""
  flat = latents.reshape(latents.shape[0], -1).astype(jnp.float32)
  bits = jax.lax.bitcast_convert_type(flat, jnp.uint32)
  mixers = jnp.asarray(
      (np.arange(flat.shape[1], dtype=np.uint64) * 2654435761 + 1)
      % 2 ** 32, jnp.uint32)
  seeds = jnp.sum(bits * mixers, axis=1, dtype=jnp.uint32)
  return jax.vmap(lambda s: jax.random.fold_in(jax.random.PRNGKey(7), s))(
      seeds)


def _draw_noise(key: jax.Array, layer: int, n: int, size: int) -> jax.Array:
  """Noise [n, size, size, 1] of one layer: from one key (training) or one
  key per sample ([n, 2], hashed latents)."""
  if key.ndim == 1:
    return jax.random.normal(jax.random.fold_in(key, layer),
                             (n, size, size, 1))
  return jax.vmap(lambda k: jax.random.normal(
      jax.random.fold_in(k, layer), (size, size, 1)))(key)


class DiscriminatorBlock(nnx.Module):
  """Residual: conv3x3, conv3x3 down, plus a 1x1 down skip, scaled by
  sqrt(1/2)."""

  def __init__(self, in_features: int, out_features: int, *,
               rngs: nnx.Rngs, dtype=None):
    self.conv0 = ops.EqualizedConv(in_features, in_features, 3,
                                   activation=True, rngs=rngs, dtype=dtype)
    self.conv1 = ops.EqualizedConv(in_features, out_features, 3, down=True,
                                   activation=True, rngs=rngs, dtype=dtype)
    self.skip = ops.EqualizedConv(in_features, out_features, 1, bias=False,
                                  down=True, rngs=rngs, dtype=dtype)

  def __call__(self, x: jax.Array) -> jax.Array:
    gain = float(np.sqrt(0.5))
    return self.skip(x, gain) + self.conv1(self.conv0(x), gain)


class Discriminator(nnx.Module):
  """StyleGAN2's residual discriminator: fromRGB, residual blocks down to
  4x4, minibatch stddev, conv, dense, and a logit (conditional: the
  projection of the features on a class embedding mapped to cmap_dim)."""

  resolutions = RESOLUTIONS

  def __init__(self, *, channel_base: int = 32768, channel_max: int = 512,
               mbstd_group: int = 4, mbstd_channels: int = 1,
               mapping_layers: int = 8, resolution: int, channels: int,
               num_classes: int = 0, rngs: nnx.Rngs, dtype=None):
    width = lambda r: _width(r, channel_base, channel_max)
    self.fromrgb = ops.EqualizedConv(channels, width(resolution), 1,
                                     activation=True, rngs=rngs, dtype=dtype)
    blocks = []
    for log_res in range(_log2(resolution), 2, -1):
      res = 2 ** log_res
      blocks.append(DiscriminatorBlock(width(res), width(res // 2),
                                       rngs=rngs, dtype=dtype))
    self.blocks = nnx.List(blocks)
    c4 = width(4)
    self.mbstd_group, self.mbstd_channels = mbstd_group, mbstd_channels
    self.conv = ops.EqualizedConv(c4 + mbstd_channels, c4, 3,
                                  activation=True, rngs=rngs, dtype=dtype)
    self.fc = ops.EqualizedLinear(c4 * 16, c4, activation=True, rngs=rngs,
                                  dtype=dtype)
    self.cmap_dim = c4 if num_classes else 0
    self.out = ops.EqualizedLinear(c4, self.cmap_dim or 1, rngs=rngs,
                                   dtype=dtype)
    self.mapping = (MappingNetwork(
        latent_dim=0, w_dim=c4, num_layers=mapping_layers,
        num_classes=num_classes, lr_mul=0.01, w_avg_beta=None, rngs=rngs,
        dtype=dtype) if num_classes else None)

  @classmethod
  def config_problems(cls, fields: dict, resolution: int) -> list[str]:
    problems = layers.config_problems(fields, "channel_base", "channel_max",
                                      "mbstd_group", "mbstd_channels",
                                      "mapping_layers")
    return problems + [p.replace("...", "the StyleGAN2 discriminator")
                       for p in _resolution_problems(resolution)]

  def __call__(self, x: jax.Array, labels: jax.Array | None = None,
               train: bool = True) -> jax.Array:
    del train  # no batch statistics
    x = self.fromrgb(x)
    for block in self.blocks:
      x = block(x)
    x = ops.minibatch_stddev(x, self.mbstd_group, self.mbstd_channels)
    x = self.conv(x)
    x = self.fc(x.reshape(x.shape[0], -1))
    x = layers.output(self.out(x))
    if self.mapping is None:
      return x[:, 0]
    cmap = self.mapping(None, labels)
    return jnp.sum(x * cmap, axis=-1) / np.sqrt(self.cmap_dim)
