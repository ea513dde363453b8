"""Model registry: configs name a family; this maps it to its modules."""

import ml_collections
from flax import nnx

from cnnjax.models import dcgan, mlp

GENERATORS = {"dcgan": dcgan.Generator, "mlp": mlp.Generator}
DISCRIMINATORS = {"dcgan": dcgan.Discriminator, "mlp": mlp.Discriminator}


def build(config: ml_collections.ConfigDict, seed: int):
  """The (generator, discriminator) of a config, initialised from `seed`."""
  rngs = nnx.Rngs(seed)
  common = dict(base_width=config.model.base_width,
                resolution=config.data.resolution,
                channels=config.data.channels,
                bn_momentum=config.model.bn_momentum)
  generator = GENERATORS[config.model.name](
      latent_dim=config.model.latent_dim, rngs=rngs, **common)
  discriminator = DISCRIMINATORS[config.model.name](rngs=rngs, **common)
  return generator, discriminator
