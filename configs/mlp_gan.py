"""The seed's fully connected GAN: 256-512-1024 hidden units, LeakyReLU(0.2), tanh.

Arguments (after the colon in --config=configs/mlp_gan.py:ARG):
  fashion_mnist  28x28x1 Fashion-MNIST, the default
  digits         scikit-learn's 8x8 digits upsampled to 28x28
  tiny           a seconds-long run on digits, for tests; combine: "fashion_mnist,tiny"
"""

from cnnjax import models
from cnnjax.tasks.gan import config as gan


def get_config(arg: str | None = None):
  config = gan.default_config()
  # Hidden widths 256-512-1024 (G) and 1024-512-256 (D).
  config.model.generator = models.network_config(
      "generator", "mlp", latent_dim=100, base_width=256)
  config.model.discriminator = models.network_config(
      "discriminator", "mlp", base_width=256)
  config.data.resolution = 28
  config.train.num_steps = 10000
  return gan.apply_arg(config, arg, **{"data.resolution": 28,
                                       "model.generator.base_width": 16,
                                       "model.discriminator.base_width": 16})
