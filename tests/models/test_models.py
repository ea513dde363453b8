"""Shapes, ranges and sizes of the registered generators and discriminators."""

import jax
import jax.numpy as jnp
import pytest
from flax import nnx

from cnnjax import models
from tests.conftest import load_config


def _count(module):
  return sum(x.size for x in jax.tree.leaves(nnx.state(module, nnx.Param)))


@pytest.mark.parametrize("name", ["dcgan", "mlp"])
@pytest.mark.parametrize("resolution,channels", [(28, 1), (32, 1), (32, 3), (64, 3)])
def test_shapes_and_range(name, resolution, channels):
  config = load_config("dcgan" if name == "dcgan" else "mlp_gan", "tiny")
  config.data.resolution, config.data.channels = resolution, channels
  generator, discriminator = models.build(config, seed=0)
  z = jax.random.normal(jax.random.PRNGKey(0), (3, config.model.latent_dim))
  images = generator(z, train=True)
  assert images.shape == (3, resolution, resolution, channels)
  assert float(jnp.max(jnp.abs(images))) <= 1.0
  assert discriminator(images, train=True).shape == (3,)
  # Eval mode uses running statistics and leaves them unchanged.
  before = nnx.state(generator, nnx.BatchStat)
  generator(z, train=False)
  assert jax.tree.all(jax.tree.map(jnp.array_equal, before,
                                   nnx.state(generator, nnx.BatchStat)))


def test_dcgan_matches_canonical_size():
  """ngf = ndf = 64, nz = 100, 32x32x1: PyTorch's DCGAN has these counts."""
  config = load_config("dcgan", "fashion_mnist")
  generator, discriminator = models.build(config, seed=0)
  # ConvT 100->256 (4x4 from 1x1), 256->128, 128->64, 64->1, no biases; BN on 256/128/64.
  g_weights = 100 * 256 * 16 + 256 * 128 * 16 + 128 * 64 * 16 + 64 * 1 * 16
  assert _count(generator) == g_weights + 2 * (256 + 128 + 64)
  # Conv 1->64, 64->128, 128->256, 256->1 (4x4), no biases; BN on 128/256.
  d_weights = 1 * 64 * 16 + 64 * 128 * 16 + 128 * 256 * 16 + 256 * 16
  assert _count(discriminator) == d_weights + 2 * (128 + 256)


def test_mlp_matches_seed_widths():
  config = load_config("mlp_gan", "fashion_mnist")
  generator, _ = models.build(config, seed=0)
  widths = [k.shape for k in jax.tree.leaves(nnx.state(generator, nnx.Param))
            if k.ndim == 2]
  assert sorted(widths) == sorted([(100, 256), (256, 512), (512, 1024),
                                   (1024, 784)])


def test_build_is_deterministic_in_seed():
  config = load_config("dcgan", "tiny")
  a, _ = models.build(config, seed=3)
  b, _ = models.build(config, seed=3)
  c, _ = models.build(config, seed=4)
  leaves = lambda m: jax.tree.leaves(nnx.state(m, nnx.Param))
  assert all(jnp.array_equal(x, y) for x, y in zip(leaves(a), leaves(b)))
  assert not all(jnp.array_equal(x, y) for x, y in zip(leaves(a), leaves(c)))
