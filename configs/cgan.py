"""Class-conditional ResNet GAN: conditional batch norm in G, a projection
discriminator (Miyato & Koyama 2018) with spectral norm, hinge loss.

Arguments (after the colon in --config=configs/cgan.py:ARG):
  fashion_mnist (default), digits, tiny; combine: "fashion_mnist,tiny"
`cnnjax sample --class K` draws class K; without it, one row per class.
"""

from cnnjax import models
from cnnjax.tasks.gan import config as gan


def get_config(arg: str | None = None):
  config = gan.default_config()
  config.model.generator = models.network_config(
      "generator", "resnet", latent_dim=128, base_width=128)
  config.model.discriminator = models.network_config(
      "discriminator", "resnet", base_width=128, spectral_norm=True)
  config.model.num_classes = 10  # Fashion-MNIST and digits both have 10
  config.loss.name = "hinge"
  config.optim.g_lr = config.optim.d_lr = 2e-4
  config.optim.b1, config.optim.b2 = 0.0, 0.9
  config.train.n_critic = 5
  config.ema.half_life_kimg = 10.0
  config.ema.rampup = 0.05
  return gan.apply_arg(config, arg, **{"train.n_critic": 2})
