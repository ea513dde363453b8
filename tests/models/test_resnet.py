"""The ResNet generator and discriminator: shapes, conditioning, buffers,
spectral-norm coverage, SNGAN's parameter count, and sharded execution.

Models are built with tiny widths and RBG keys: threefry initialisers compile
slowly on CPU (~0.5 s per distinct kernel shape), which would dominate here.
Modules run through one jitted pure function, as the train step runs them.
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx
from jax.sharding import NamedSharding, PartitionSpec

from cnnjax.models import resnet
from cnnjax.models.spectral_norm import SpectralNorm, SpectralNormVector, apply

BUFFERS = nnx.Not(nnx.Param)
LATENT, WIDTH, CLASSES = 8, 4, 3


def _rngs(seed: int) -> nnx.Rngs:
  return nnx.Rngs(jax.random.key(seed, impl="rbg"))


def _pair(resolution, channels, num_classes=0, seed=0):
  common = dict(base_width=WIDTH, resolution=resolution, channels=channels,
                num_classes=num_classes)
  return (resnet.Generator(latent_dim=LATENT, bn_momentum=0.9,
                           rngs=_rngs(seed), **common),
          resnet.Discriminator(rngs=_rngs(seed + 1), **common))


@functools.partial(jax.jit, static_argnames=("graphdef", "train"))
def _run(graphdef, params, buffers, inputs, labels, *, train):
  """(output, buffers after the call) of a split module; changes nothing."""
  module = nnx.merge(graphdef, params, buffers)
  return module(inputs, labels, train=train), nnx.state(module, BUFFERS)


def run(module, inputs, labels=None, *, train):
  graphdef, params, buffers = nnx.split(module, nnx.Param, BUFFERS)
  return _run(graphdef, params, buffers, inputs, labels, train=train)


def _same(a, b) -> bool:
  return all(bool(jnp.array_equal(x, y))
             for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)))


@pytest.fixture(scope="module")
def conditional_pair():
  return _pair(32, 3, num_classes=CLASSES)


@pytest.mark.parametrize("resolution,channels",
                         [(28, 1), (32, 1), (32, 3), (64, 3)])
def test_shapes_range_and_buffer_updates(resolution, channels):
  generator, discriminator = _pair(resolution, channels)
  z = jax.random.normal(jax.random.PRNGKey(0), (4, LATENT))
  for train in (True, False):
    images, g_buffers = run(generator, z, train=train)
    assert images.shape == (4, resolution, resolution, channels)
    assert float(jnp.max(jnp.abs(images))) <= 1.0
    logits, d_buffers = run(discriminator, images, train=train)
    assert logits.shape == (4,)
    assert bool(jnp.all(jnp.isfinite(logits)))
    # Train mode moves batch statistics and power-iteration vectors; eval
    # mode changes no buffer at all.
    changed = not _same(g_buffers, nnx.state(generator, BUFFERS))
    assert changed == train
    changed = not _same(d_buffers, nnx.state(discriminator, BUFFERS))
    assert changed == train


def test_conditional_generator_uses_the_label(conditional_pair):
  generator, _ = conditional_pair
  # At initialisation every class has gain 1 and bias 0; give each class its
  # own, as training would.
  for path, variable in nnx.iter_graph(generator):
    if isinstance(variable, nnx.Param) and path[-2] in ("gain", "bias"):
      variable[...] += 0.3 * jax.random.normal(jax.random.PRNGKey(len(path)),
                                               variable.shape)
  z = jnp.tile(jax.random.normal(jax.random.PRNGKey(1), (1, LATENT)), (4, 1))
  images, _ = run(generator, z, jnp.array([0, 0, 1, 2]), train=False)
  np.testing.assert_allclose(images[0], images[1])  # same z, same class
  assert float(jnp.max(jnp.abs(images[0] - images[2]))) > 1e-3
  assert float(jnp.max(jnp.abs(images[2] - images[3]))) > 1e-3
  with pytest.raises(ValueError, match="pass labels"):
    generator(z, train=False)


def test_projection_discriminator_uses_the_label(conditional_pair):
  _, discriminator = conditional_pair
  x = jax.random.uniform(jax.random.PRNGKey(2), (3, 32, 32, 3), minval=-1)
  x = jnp.concatenate([x[:1]] * 3)  # one image, three classes
  logits, _ = run(discriminator, x, jnp.array([0, 1, 2]), train=False)
  assert len({round(float(l), 5) for l in logits}) == 3
  with pytest.raises(ValueError, match="pass labels"):
    discriminator(x, train=False)


def test_discriminator_is_fully_spectrally_normalised():
  """No batch norm; every conv, dense and embedding sits inside SpectralNorm."""
  discriminator = nnx.eval_shape(lambda: resnet.Discriminator(
      base_width=WIDTH, resolution=64, channels=3, num_classes=CLASSES,
      rngs=nnx.Rngs(0)))
  assert not jax.tree.leaves(nnx.state(discriminator, nnx.BatchStat))
  modules = [m for _, m in nnx.iter_graph(discriminator)]
  weighted = {id(m) for m in modules
              if isinstance(m, (nnx.Conv, nnx.Linear, nnx.Embed))}
  wrapped = {id(m.layer) for m in modules if isinstance(m, SpectralNorm)}
  # 64 px: first block 3 convs, 4 blocks of 2 + 1 shortcut, dense, embedding.
  assert len(weighted) == 3 + 4 * 3 + 2
  assert wrapped == weighted
  # Buffers are exactly the power-iteration state, two per wrapped layer.
  buffers = jax.tree.leaves(nnx.state(discriminator, BUFFERS),
                            is_leaf=lambda v: isinstance(v, nnx.Variable))
  assert len(buffers) == 2 * len(weighted)
  assert all(isinstance(v, SpectralNormVector) for v in buffers)

  plain = nnx.eval_shape(lambda: resnet.Discriminator(
      base_width=WIDTH, resolution=64, channels=3, spectral_norm=False,
      rngs=nnx.Rngs(0)))
  assert not jax.tree.leaves(nnx.state(plain, BUFFERS))
  assert not any(isinstance(m, SpectralNorm) for _, m in nnx.iter_graph(plain))


def _count(module):
  return sum(x.size for x in jax.tree.leaves(nnx.state(module, nnx.Param)))


def test_sngan_cifar_parameter_count():
  """SNGAN's CIFAR-10 ResNet: G with 256 channels, D with 128, z of 128."""
  generator = nnx.eval_shape(lambda: resnet.Generator(
      latent_dim=128, base_width=256, resolution=32, channels=3,
      bn_momentum=0.9, rngs=nnx.Rngs(0)))
  discriminator = nnx.eval_shape(lambda: resnet.Discriminator(
      base_width=128, resolution=32, channels=3, rngs=nnx.Rngs(0)))
  conv = lambda k, a, b: k * k * a * b + b  # with bias
  bn = lambda c: 2 * c  # scale and bias
  # z (128) -> 4x4x256, three up-blocks 256 -> 256 (BN, conv3, BN, conv3,
  # 1x1 shortcut), BN, conv3 256 -> 3.
  up_block = bn(256) + conv(3, 256, 256) + bn(256) + conv(3, 256, 256) + (
      conv(1, 256, 256))
  g_count = (128 * 4096 + 4096) + 3 * up_block + bn(256) + conv(3, 256, 3)
  assert g_count == 4_276_739  # the 4.3M usually quoted for this generator
  assert _count(generator) == g_count
  # First block conv3 3->128, conv3 128->128, 1x1 shortcut 3->128; a down
  # block with a 1x1 shortcut; two blocks with identity shortcuts; dense.
  first = conv(3, 3, 128) + conv(3, 128, 128) + conv(1, 3, 128)
  block = 2 * conv(3, 128, 128)
  d_count = first + (block + conv(1, 128, 128)) + 2 * block + (128 + 1)
  assert d_count == 1_053_825
  assert _count(discriminator) == d_count
  print(f"SNGAN CIFAR-10: G {g_count:,} parameters, D {d_count:,}")


@pytest.mark.parametrize("axis_type", ["explicit", "auto"])
def test_sharded_batch_matches_unsharded(conditional_pair, axis_type):
  """Batch split over 8 devices: same images, logits and buffer updates.

  Explicit axes are `jax.make_mesh`'s default; the train state uses Auto.
  """
  generator, discriminator = conditional_pair
  axis_types = {"explicit": jax.sharding.AxisType.Explicit,
                "auto": jax.sharding.AxisType.Auto}[axis_type]
  mesh = jax.make_mesh((8,), ("data",), axis_types=(axis_types,))
  sharding = NamedSharding(mesh, PartitionSpec("data"))
  z = jax.random.normal(jax.random.PRNGKey(3), (16, LATENT))
  labels = jnp.arange(16) % CLASSES
  images, g_buffers = run(generator, z, labels, train=True)
  logits, d_buffers = run(discriminator, images, labels, train=True)
  shard = lambda x: jax.device_put(x, sharding)
  sharded_images, sharded_g = run(generator, shard(z), shard(labels),
                                  train=True)
  assert len(sharded_images.sharding.device_set) == 8
  sharded_logits, sharded_d = run(discriminator, shard(images), shard(labels),
                                  train=True)
  np.testing.assert_allclose(sharded_images, images, rtol=1e-5, atol=1e-5)
  np.testing.assert_allclose(sharded_logits, logits, rtol=1e-4, atol=1e-4)
  for a, b in zip(jax.tree.leaves((sharded_g, sharded_d)),
                  jax.tree.leaves((g_buffers, d_buffers))):
    np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


def _assert_fused_matches_naive(in_features, out_features, x_shape, out_shape,
                                spectral, fused, naive):
  """`fused(layer, x)` against `naive(layer, x)` for a 3x3 conv layer (with
  a bias, spectrally normalised if `spectral`): same value, same gradients
  in the parameters and x, and the same layer state afterwards (the spectral
  norm's power iteration advances as calling the conv does)."""
  conv = resnet._conv(in_features, out_features, 3, resnet.residual_init,
                      _rngs(0))
  conv.bias[...] = jax.random.normal(jax.random.PRNGKey(3), (out_features,))
  layer = SpectralNorm(conv, rngs=_rngs(1)) if spectral else conv
  x = jax.random.normal(jax.random.PRNGKey(0), x_shape)
  target = jax.random.normal(jax.random.PRNGKey(1), out_shape)
  graphdef, state = nnx.split(layer)

  def loss(compute, state, x):
    layer = nnx.merge(graphdef, state)
    y = compute(layer, x)
    return jnp.sum(jnp.sin(y) * target), nnx.state(layer)

  results = [jax.value_and_grad(loss, argnums=(1, 2), has_aux=True)(
      compute, state, x) for compute in (naive, fused)]
  (value, after), grads = results[0]
  (fused_value, fused_after), fused_grads = results[1]
  np.testing.assert_allclose(fused_value, value, rtol=1e-5)
  for got, want in zip(jax.tree.leaves(fused_grads), jax.tree.leaves(grads)):
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)
  for got, want in zip(jax.tree.leaves(fused_after), jax.tree.leaves(after)):
    np.testing.assert_allclose(got, want, rtol=1e-6)


@pytest.mark.parametrize("spectral", [False, True])
def test_conv_then_pool_is_pool_of_conv_with_the_same_gradients(spectral):
  """The 4x4 stride-2 rewrite of conv3x3 + avg_pool."""
  _assert_fused_matches_naive(
      3, 5, (2, 8, 12, 3), (2, 4, 6, 5), spectral,
      lambda layer, x: resnet.conv_then_pool(layer, x, train=True),
      lambda layer, x: resnet.avg_pool(apply(layer, x, train=True)))


@pytest.mark.parametrize("spectral", [False, True])
def test_upsample_then_conv_is_conv_of_upsample_with_the_same_gradients(
    spectral):
  """The 4x4 stride-2 transposed rewrite of upsample + conv3x3."""
  _assert_fused_matches_naive(
      4, 3, (2, 3, 5, 4), (2, 6, 10, 3), spectral,
      lambda layer, x: resnet.upsample_then_conv(layer, x, train=True),
      lambda layer, x: apply(layer, resnet.upsample(x), train=True))
