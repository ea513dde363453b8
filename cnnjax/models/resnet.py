"""SNGAN/BigGAN-style ResNet generator and discriminator.

Generator (Miyato et al. 2018; Gulrajani et al. 2017): z -> dense
-> SxSxW, residual up-blocks BN-ReLU-up2-conv3-BN-ReLU-conv3 with a 1x1-conv
upsampled shortcut, then BN-ReLU-conv3-tanh. With num_classes > 0 every BN is
a conditional batch norm (de Vries et al. 2017): per-class gain and bias.

Discriminator: an "optimized" first block conv3-ReLU-conv3-pool with a pooled
1x1 shortcut, residual blocks ReLU-conv3-ReLU-conv3(-pool) with a 1x1
shortcut when the shape changes, ReLU, global sum pooling and a dense layer
to one logit. With num_classes > 0 it is a projection discriminator (Miyato &
Koyama 2018): logit += <embed(y), h>. Spectral norm wraps every conv, dense
and embedding when `spectral_norm`; there is no batch norm.

The up-sampling conv of each G block (upsample, then 3x3 conv) and the
down-sampling conv of each D block (3x3 conv, then 2x2 average pool) are the
same maps as 4x4 stride-2 transposed/strided convolutions with kernels built
from the 3x3 ones, and are computed as such (`upsample_then_conv`,
`conv_then_pool`): 16/36 of the multiply-adds and `stride2`'s fast
gradients. The parameters, and so the checkpoints, are SNGAN's 3x3 kernels.

Widths (g = base_width):
  28 px: G 7x7, g -> g -> g (2 up-blocks);   D g (14) g (7) g g.
  32 px: G 4x4, g -> g -> g -> g (3 blocks); D g (16) g (8) g g.
         SNGAN's CIFAR-10 model is G with g = 256 and D with g = 128.
  64 px: G 4x4, 16g -> 8g -> 4g -> 2g -> g;  D g (32) 2g (16) 4g (8) 8g (4)
         16g (4): BigGAN's 64 px layout, whose last D block keeps the 4x4
         size. These models use g = 64; g = 128 is four times the cost.
"""

import jax
import jax.numpy as jnp
from flax import nnx

from cnnjax.models import layers, stride2
from cnnjax.models.spectral_norm import (SpectralNorm, apply,
                                         maybe_spectral_norm)

# resolution -> (starting size, generator widths coarse to fine in units of g)
GENERATOR_PLAN = {28: (7, (1, 1, 1)), 32: (4, (1, 1, 1, 1)),
                  64: (4, (16, 8, 4, 2, 1))}
# resolution -> the discriminator blocks after its first block (which always
# halves the size and has width g): (width in units of g, halves the size).
DISCRIMINATOR_PLAN = {
    28: ((1, True), (1, False), (1, False)),
    32: ((1, True), (1, False), (1, False)),
    64: ((2, True), (4, True), (8, True), (16, False)),
}

# SNGAN's initialisation: Xavier-uniform, with gain sqrt(2) on the convs of
# the residual path (they follow a ReLU) and gain 1 elsewhere.
residual_init = nnx.initializers.variance_scaling(2.0, "fan_avg", "uniform")
plain_init = nnx.initializers.xavier_uniform()


def _conv(in_features: int, out_features: int, size: int, init,
          rngs: nnx.Rngs, dtype=None) -> nnx.Conv:
  """size x size convolution, stride 1, same padding, with bias."""
  return nnx.Conv(in_features, out_features, kernel_size=(size, size),
                  padding="SAME", kernel_init=init, dtype=dtype, rngs=rngs)


def upsample(x: jax.Array) -> jax.Array:
  """Nearest-neighbour 2x upsampling (NHWC)."""
  return jnp.repeat(jnp.repeat(x, 2, axis=1), 2, axis=2)


def avg_pool(x: jax.Array) -> jax.Array:
  """2x2 average pooling with stride 2 (NHWC, even sizes).

  A window reduction rather than a reshape-and-mean: reshapes of a batch
  sharded over explicit mesh axes need their output sharding spelled out.
  """
  return nnx.avg_pool(x, window_shape=(2, 2), strides=(2, 2))


def _shift_sum(kernel: jax.Array) -> jax.Array:
  """3x3 HWIO kernel -> 4x4: the sum of its four placements in a 4x4 window."""
  return sum(jnp.pad(kernel, ((a, 1 - a), (b, 1 - b), (0, 0), (0, 0)))
             for a in (0, 1) for b in (0, 1))


def _weights(layer: nnx.Module, train: bool):
  """(kernel, bias, dtype) of a 3x3 nnx.Conv, spectrally normalised if wrapped
  (advancing its power iteration when training, as calling it would)."""
  if isinstance(layer, SpectralNorm):
    return (layer.normalized_weight(update_stats=train), layer.layer.bias[...],
            layer.layer.dtype)
  return layer.kernel[...], layer.bias[...], layer.dtype


def _cast(dtype, *arrays):
  return arrays if dtype is None else tuple(a.astype(dtype) for a in arrays)


def conv_then_pool(layer: nnx.Module, x: jax.Array, train: bool) -> jax.Array:
  """avg_pool(conv3x3(x)), computed as one 4x4 stride-2 convolution.

  Averaging the four 2x2 positions of a 3x3 kernel's outputs is convolving
  with the 4x4 kernel that averages its four placements: the same map (and
  the same gradients) at 16/36 of the multiply-adds, with `stride2`'s fast
  input gradient. The parameters stay the 3x3 conv's.
  """
  kernel, bias, dtype = _weights(layer, train)
  x, kernel, bias = _cast(dtype, x, _shift_sum(kernel) / 4, bias)
  if x.shape[1] % 2 or x.shape[2] % 2:  # the same map; XLA's gradients
    return stride2.xla_strided_conv(x, kernel) + bias
  return stride2.strided_conv(x, kernel) + bias


def upsample_then_conv(layer: nnx.Module, x: jax.Array,
                       train: bool) -> jax.Array:
  """conv3x3(upsample(x)), computed as one 4x4 stride-2 transposed conv.

  Each input pixel of a nearest-upsampled image covers a 2x2 block, so every
  output reads a 2x2 neighbourhood of x with summed taps: a transposed
  convolution whose kernel sums the four placements of the flipped 3x3
  kernel. The same map at 16/36 of the multiply-adds.
  """
  kernel, bias, dtype = _weights(layer, train)
  # transposed_conv takes the strided conv's kernel: in/out swapped.
  kernel = _shift_sum(kernel[::-1, ::-1]).transpose(0, 1, 3, 2)
  x, kernel, bias = _cast(dtype, x, kernel, bias)
  return stride2.transposed_conv(x, kernel) + bias


class ClassEmbed(nnx.Embed):
  """`nnx.Embed` whose lookup is a one-hot matmul.

  A gather from a batch of labels sharded over an explicit-axes mesh (the
  default of `jax.make_mesh`) needs its output sharding spelled out; a matmul
  with a [batch, classes] one-hot does not, and for a few classes it is as
  cheap.
  """

  def __call__(self, labels: jax.Array) -> jax.Array:
    dtype = self.dtype or self.embedding.dtype
    one_hot = jax.nn.one_hot(labels, self.num_embeddings, dtype=dtype)
    return one_hot @ self.embedding[...].astype(dtype)


def _check_labels(labels: jax.Array | None, num_classes: int) -> None:
  if num_classes and labels is None:
    raise ValueError(f"this model is conditional ({num_classes} classes): "
                     "pass labels")


class ConditionalBatchNorm(nnx.Module):
  """Batch norm whose gain and bias are looked up per class.

  With num_classes == 0 it is an ordinary (affine) batch norm and ignores the
  labels. Gains start at 1 and biases at 0, so at initialisation every class
  sees the same plain batch norm.
  """

  def __init__(self, features: int, *, momentum: float, num_classes: int,
               rngs: nnx.Rngs, dtype=None):
    self.conditional = num_classes > 0
    if not self.conditional:
      self.norm = layers.batch_norm(features, momentum, rngs, dtype)
      return
    self.norm = nnx.BatchNorm(features, momentum=momentum, epsilon=1e-5,
                              use_scale=False, use_bias=False, dtype=dtype,
                              rngs=rngs)
    self.gain = ClassEmbed(num_classes, features, dtype=dtype,
                           embedding_init=nnx.initializers.ones, rngs=rngs)
    self.bias = ClassEmbed(num_classes, features, dtype=dtype,
                           embedding_init=nnx.initializers.zeros, rngs=rngs)

  def __call__(self, x: jax.Array, labels: jax.Array | None,
               train: bool) -> jax.Array:
    x = self.norm(x, use_running_average=not train)
    if not self.conditional:
      return x
    gain = self.gain(labels)[:, None, None, :]
    bias = self.bias(labels)[:, None, None, :]
    return x * gain + bias


class UpBlock(nnx.Module):
  """Residual block that doubles the spatial size."""

  def __init__(self, in_features: int, out_features: int, *,
               bn_momentum: float, num_classes: int, rngs: nnx.Rngs,
               dtype=None):
    norm = lambda f: ConditionalBatchNorm(f, momentum=bn_momentum,
                                          num_classes=num_classes, rngs=rngs,
                                          dtype=dtype)
    conv = lambda a, b, size, init: _conv(a, b, size, init, rngs, dtype)
    self.norm1 = norm(in_features)
    self.conv1 = conv(in_features, out_features, 3, residual_init)
    self.norm2 = norm(out_features)
    self.conv2 = conv(out_features, out_features, 3, residual_init)
    self.shortcut = conv(in_features, out_features, 1, plain_init)

  def __call__(self, x: jax.Array, labels: jax.Array | None,
               train: bool) -> jax.Array:
    h = nnx.relu(self.norm1(x, labels, train))
    h = upsample_then_conv(self.conv1, h, train)  # = conv1(upsample(h))
    h = nnx.relu(self.norm2(h, labels, train))
    h = self.conv2(h)
    # A 1x1 conv commutes with nearest upsampling: convolving first is the
    # same map at a quarter of the cost.
    return h + upsample(self.shortcut(x))


class Generator(nnx.Module):
  """(z, labels) -> image in [-1, 1] of shape (resolution, resolution, channels)."""

  def __init__(self, *, latent_dim: int, base_width: int,
               bn_momentum: float = 0.9, resolution: int, channels: int,
               num_classes: int = 0, rngs: nnx.Rngs, dtype=None):
    self.start, units = GENERATOR_PLAN[resolution]
    widths = [base_width * unit for unit in units]
    self.num_classes = num_classes
    self.start_width = widths[0]
    self.project = nnx.Linear(latent_dim, self.start**2 * widths[0],
                              kernel_init=plain_init, dtype=dtype, rngs=rngs)
    self.blocks = nnx.List([
        UpBlock(a, b, bn_momentum=bn_momentum, num_classes=num_classes,
                rngs=rngs, dtype=dtype)
        for a, b in zip(widths[:-1], widths[1:])])
    self.final_norm = ConditionalBatchNorm(widths[-1], momentum=bn_momentum,
                                           num_classes=num_classes, rngs=rngs,
                                           dtype=dtype)
    self.to_image = _conv(widths[-1], channels, 3, plain_init, rngs, dtype)

  @classmethod
  def config_problems(cls, fields: dict, resolution: int) -> list[str]:
    del resolution  # every resolution of data.resolution
    return layers.config_problems(fields, "latent_dim", "base_width")

  def __call__(self, z: jax.Array, labels: jax.Array | None = None,
               train: bool = True) -> jax.Array:
    _check_labels(labels, self.num_classes)
    x = self.project(z).reshape(z.shape[0], self.start, self.start,
                                self.start_width)
    for block in self.blocks:
      x = block(x, labels, train)
    x = nnx.relu(self.final_norm(x, labels, train))
    return layers.output(jnp.tanh(self.to_image(x)))


class FirstBlock(nnx.Module):
  """The discriminator's "optimized" first block: no ReLU on the image."""

  def __init__(self, in_features: int, out_features: int, *,
               spectral_norm: bool, rngs: nnx.Rngs, dtype=None):
    sn = lambda layer: maybe_spectral_norm(layer, spectral_norm, rngs=rngs)
    conv = lambda a, b, size, init: sn(_conv(a, b, size, init, rngs, dtype))
    self.conv1 = conv(in_features, out_features, 3, residual_init)
    self.conv2 = conv(out_features, out_features, 3, residual_init)
    self.shortcut = conv(in_features, out_features, 1, plain_init)

  def __call__(self, x: jax.Array, train: bool) -> jax.Array:
    h = nnx.relu(apply(self.conv1, x, train=train))
    h = conv_then_pool(self.conv2, h, train)  # = avg_pool(conv2(h))
    return h + apply(self.shortcut, avg_pool(x), train=train)


class DownBlock(nnx.Module):
  """Pre-activation residual block that may halve the spatial size."""

  def __init__(self, in_features: int, out_features: int, *, downsample: bool,
               spectral_norm: bool, rngs: nnx.Rngs, dtype=None):
    sn = lambda layer: maybe_spectral_norm(layer, spectral_norm, rngs=rngs)
    conv = lambda a, b, size, init: sn(_conv(a, b, size, init, rngs, dtype))
    self.downsample = downsample
    self.conv1 = conv(in_features, out_features, 3, residual_init)
    self.conv2 = conv(out_features, out_features, 3, residual_init)
    keeps_shape = not downsample and in_features == out_features
    # None: the identity shortcut (one assignment: nnx fixes data vs static).
    self.shortcut = None if keeps_shape else conv(in_features, out_features,
                                                  1, plain_init)

  def __call__(self, x: jax.Array, train: bool) -> jax.Array:
    h = apply(self.conv1, nnx.relu(x), train=train)
    if self.downsample:
      h = conv_then_pool(self.conv2, nnx.relu(h), train)
      # A 1x1 conv commutes with average pooling: pooling first is the same
      # map as SNGAN's conv-then-pool at a quarter of the cost.
      x = avg_pool(x)
    else:
      h = apply(self.conv2, nnx.relu(h), train=train)
    if self.shortcut is not None:
      x = apply(self.shortcut, x, train=train)
    return h + x


class Discriminator(nnx.Module):
  """(image, labels) -> one logit per image."""

  def __init__(self, *, base_width: int, spectral_norm: bool = True,
               resolution: int, channels: int, num_classes: int = 0,
               rngs: nnx.Rngs, dtype=None):
    # No batch norm in D: spectral norm bounds its Lipschitz constant.
    sn = lambda layer: maybe_spectral_norm(layer, spectral_norm, rngs=rngs)
    self.num_classes = num_classes
    self.first = FirstBlock(channels, base_width, spectral_norm=spectral_norm,
                            rngs=rngs, dtype=dtype)
    blocks, width = [], base_width
    for unit, downsample in DISCRIMINATOR_PLAN[resolution]:
      blocks.append(DownBlock(width, base_width * unit, downsample=downsample,
                              spectral_norm=spectral_norm, rngs=rngs,
                              dtype=dtype))
      width = base_width * unit
    self.blocks = nnx.List(blocks)
    self.to_logit = sn(nnx.Linear(width, 1, kernel_init=plain_init,
                                  dtype=dtype, rngs=rngs))
    self.embed = sn(ClassEmbed(num_classes, width, embedding_init=plain_init,
                               dtype=dtype, rngs=rngs)) if num_classes else None

  @classmethod
  def config_problems(cls, fields: dict, resolution: int) -> list[str]:
    del resolution  # every resolution of data.resolution
    return layers.config_problems(fields, "base_width")

  def __call__(self, x: jax.Array, labels: jax.Array | None = None,
               train: bool = True) -> jax.Array:
    _check_labels(labels, self.num_classes)
    h = self.first(x, train)
    for block in self.blocks:
      h = block(h, train)
    # Sum (not mean) pooling, as in SNGAN: the logit scales with image area.
    h = jnp.sum(nnx.relu(h), axis=(1, 2))
    logits = apply(self.to_logit, h, train=train)[:, 0]
    if self.embed is not None:
      logits = logits + jnp.sum(apply(self.embed, labels, train=train) * h,
                                axis=1)
    return layers.output(logits)
