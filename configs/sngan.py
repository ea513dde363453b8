"""SNGAN (Miyato et al. 2018): ResNet G and D, spectral norm on every layer
of D, hinge loss, 5 D steps per G step, Adam(2e-4, 0, 0.9).

Arguments (after the colon in --config=configs/sngan.py:ARG):
  fashion_mnist (default), digits, tiny; combine: "fashion_mnist,tiny"
"""

from cnnjax import models
from cnnjax.tasks.gan import config as gan


def get_config(arg: str | None = None):
  config = gan.default_config()
  # The CIFAR model uses 256 in G, 128 in D.
  config.model.generator = models.network_config(
      "generator", "resnet", latent_dim=128, base_width=128)
  config.model.discriminator = models.network_config(
      "discriminator", "resnet", base_width=128, spectral_norm=True)
  config.loss.name = "hinge"
  config.optim.g_lr = config.optim.d_lr = 2e-4
  config.optim.b1, config.optim.b2 = 0.0, 0.9
  config.train.n_critic = 5
  config.ema.half_life_kimg = 10.0
  config.ema.rampup = 0.05
  return gan.apply_arg(config, arg, **{"train.n_critic": 2})
