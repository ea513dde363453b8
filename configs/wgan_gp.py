"""WGAN-GP (Gulrajani et al. 2017): ResNet G and critic without normalisation,
Wasserstein loss with gradient penalty 10, 5 critic steps per G step,
Adam(2e-4, 0, 0.9).

Arguments (after the colon in --config=configs/wgan_gp.py:ARG):
  fashion_mnist (default), digits, tiny; combine: "fashion_mnist,tiny"
"""

from cnnjax import models
from cnnjax.tasks.gan import config as gan


def get_config(arg: str | None = None):
  config = gan.default_config()
  config.model.generator = models.network_config(
      "generator", "resnet", latent_dim=128, base_width=128)
  # No normalisation in the critic: the penalty constrains it.
  config.model.discriminator = models.network_config(
      "discriminator", "resnet", base_width=128, spectral_norm=False)
  config.loss.name = "wasserstein"
  config.loss.gp_weight = 10.0
  config.optim.g_lr = config.optim.d_lr = 2e-4
  config.optim.b1, config.optim.b2 = 0.0, 0.9
  config.train.n_critic = 5
  return gan.apply_arg(config, arg, **{"train.n_critic": 2})
