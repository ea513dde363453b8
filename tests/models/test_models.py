"""Networks by role: the registry and its config sections, and the shapes,
ranges and sizes of the registered generators and discriminators."""

import jax
import jax.numpy as jnp
import pytest
from flax import nnx

from cnnjax import models
from cnnjax.errors import ConfigError
from cnnjax.tasks.gan import state as gan_state
from tests.conftest import load_config


def _count(module):
  return sum(x.size for x in jax.tree.leaves(nnx.state(module, nnx.Param)))


@pytest.mark.parametrize("name", ["dcgan", "mlp"])
@pytest.mark.parametrize("resolution,channels", [(28, 1), (32, 1), (32, 3), (64, 3)])
def test_shapes_and_range(name, resolution, channels):
  config = load_config("dcgan" if name == "dcgan" else "mlp_gan", "tiny")
  config.data.resolution, config.data.channels = resolution, channels
  generator, discriminator = gan_state.build_networks(config, seed=0)
  z = jax.random.normal(jax.random.PRNGKey(0), (3, config.model.generator.latent_dim))
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
  generator, discriminator = gan_state.build_networks(config, seed=0)
  # ConvT 100->256 (4x4 from 1x1), 256->128, 128->64, 64->1, no biases; BN on 256/128/64.
  g_weights = 100 * 256 * 16 + 256 * 128 * 16 + 128 * 64 * 16 + 64 * 1 * 16
  assert _count(generator) == g_weights + 2 * (256 + 128 + 64)
  # Conv 1->64, 64->128, 128->256, 256->1 (4x4), no biases; BN on 128/256.
  d_weights = 1 * 64 * 16 + 64 * 128 * 16 + 128 * 256 * 16 + 256 * 16
  assert _count(discriminator) == d_weights + 2 * (128 + 256)


def test_mlp_matches_seed_widths():
  config = load_config("mlp_gan", "fashion_mnist")
  generator, _ = gan_state.build_networks(config, seed=0)
  widths = [k.shape for k in jax.tree.leaves(nnx.state(generator, nnx.Param))
            if k.ndim == 2]
  assert sorted(widths) == sorted([(100, 256), (256, 512), (512, 1024),
                                   (1024, 784)])


def test_build_is_deterministic_in_seed():
  config = load_config("dcgan", "tiny")
  a, _ = gan_state.build_networks(config, seed=3)
  b, _ = gan_state.build_networks(config, seed=3)
  c, _ = gan_state.build_networks(config, seed=4)
  leaves = lambda m: jax.tree.leaves(nnx.state(m, nnx.Param))
  assert all(jnp.array_equal(x, y) for x, y in zip(leaves(a), leaves(b)))
  assert not all(jnp.array_equal(x, y) for x, y in zip(leaves(a), leaves(c)))


def test_network_config_records_every_field_of_the_family():
  section = models.network_config("discriminator", "resnet", base_width=32)
  assert section.to_dict() == {"name": "resnet", "base_width": 32,
                               "spectral_norm": True}
  with pytest.raises(ConfigError, match="bn_momentum"):
    models.network_config("discriminator", "resnet", base_width=32,
                          bn_momentum=0.9)
  with pytest.raises(ConfigError, match="base_width"):
    models.network_config("discriminator", "resnet")
  with pytest.raises(ConfigError, match="'stylegan9' is not a generator"):
    models.network_config("generator", "stylegan9")


def test_a_section_builds_what_the_constructor_builds():
  """model.generator = {name, **fields} is the family's constructor with
  those keyword arguments (and the run's context)."""
  from cnnjax.models import resnet
  section = models.network_config("generator", "resnet", latent_dim=16,
                                  base_width=8, bn_momentum=0.8)
  built = models.build("generator", section, resolution=32, channels=3,
                       num_classes=10, rngs=nnx.Rngs(5))
  direct = resnet.Generator(latent_dim=16, base_width=8, bn_momentum=0.8,
                            resolution=32, channels=3, num_classes=10,
                            rngs=nnx.Rngs(5))
  assert jax.tree.all(jax.tree.map(jnp.array_equal, nnx.state(built),
                                   nnx.state(direct)))


@pytest.mark.parametrize("role,fields,num_classes,message", [
    ("discriminator", {"name": "dcgan", "base_width": 8, "bn_momentum": 0.9,
                       "spectral_norm": True}, 0,
     "spectral_norm is not a field of the discriminator 'dcgan'"),
    ("generator", {"name": "dcgan", "latent_dim": 8}, 0,
     r"lacks the fields \['base_width', 'bn_momentum'\]"),
    ("generator", {"name": "dcgan", "latent_dim": 8, "base_width": 8,
                   "bn_momentum": 0.9}, 10, "needs a conditional generator"),
    ("generator", {"name": "resnet", "latent_dim": 0, "base_width": 8,
                   "bn_momentum": 0.9}, 0, "latent_dim=0 must be positive"),
    ("discriminator", {"name": "dcgan", "base_width": 8, "bn_momentum": 1.0},
     0, r"bn_momentum=1.0 must be in \[0, 1\)"),
])
def test_sections_are_validated_by_their_family(role, fields, num_classes,
                                                message):
  import ml_collections
  with pytest.raises(ConfigError, match=message):
    models.check(role, ml_collections.ConfigDict(fields), resolution=32,
                 num_classes=num_classes)
