"""Model registry: configs name a family; this maps it to its modules."""

import jax.numpy as jnp
import ml_collections
from flax import nnx

from cnnjax.models import dcgan, mlp, resnet

GENERATORS = {"dcgan": dcgan.Generator, "mlp": mlp.Generator,
              "resnet": resnet.Generator}
DISCRIMINATORS = {"dcgan": dcgan.Discriminator, "mlp": mlp.Discriminator,
                  "resnet": resnet.Discriminator}
# model.compute_dtype -> the `dtype` models compute in (None: float32 as is).
COMPUTE_DTYPES = {"float32": None, "bfloat16": jnp.bfloat16}
# Families whose G and D take class labels (model.num_classes > 0), and
# whose D takes a `spectral_norm` switch.
CONDITIONAL = {"resnet"}
SPECTRAL_NORM = {"resnet"}


def build(config: ml_collections.ConfigDict, seed: int):
  """The (generator, discriminator) of a config, initialised from `seed`."""
  name = config.model.name
  rngs = nnx.Rngs(seed)
  common = dict(base_width=config.model.base_width,
                resolution=config.data.resolution,
                channels=config.data.channels,
                bn_momentum=config.model.bn_momentum,
                dtype=COMPUTE_DTYPES[config.model.compute_dtype])
  g_options, d_options = {}, {}
  if name in CONDITIONAL:
    g_options["num_classes"] = d_options["num_classes"] = (
        config.model.num_classes)
  if name in SPECTRAL_NORM:
    d_options["spectral_norm"] = config.model.spectral_norm
  generator = GENERATORS[name](latent_dim=config.model.latent_dim, rngs=rngs,
                               **common, **g_options)
  discriminator = DISCRIMINATORS[name](rngs=rngs, **common, **d_options)
  return generator, discriminator
