"""WGAN-GP (Gulrajani et al. 2017): ResNet G and critic without normalisation,
Wasserstein loss with gradient penalty 10, 5 critic steps per G step,
Adam(2e-4, 0, 0.9).

Arguments (after the colon in --config=configs/wgan_gp.py:ARG):
  fashion_mnist (default), digits, tiny; combine: "fashion_mnist,tiny"
"""

from cnnjax import config as base


def get_config(arg: str | None = None):
  config = base.base_config()
  config.model.name = "resnet"
  config.model.latent_dim = 128
  config.model.base_width = 128
  config.model.spectral_norm = False  # the penalty constrains the critic
  config.loss.name = "wasserstein"
  config.loss.gp_weight = 10.0
  config.optim.g_lr = config.optim.d_lr = 2e-4
  config.optim.b1, config.optim.b2 = 0.0, 0.9
  config.train.n_critic = 5
  return base.apply_arg(config, arg, **{"train.n_critic": 2})
