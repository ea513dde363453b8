"""LSGAN (Mao et al. 2017): the DCGAN architecture with least-squares losses.

Arguments (after the colon in --config=configs/lsgan.py:ARG):
  fashion_mnist (default), digits, tiny; combine: "fashion_mnist,tiny"
"""

from cnnjax.tasks.gan import config as gan


def get_config(arg: str | None = None):
  config = gan.default_config()  # the DCGAN generator and discriminator
  config.loss.name = "least_squares"
  # Mao et al. train with Adam(lr=2e-4, beta1=0.5), as DCGAN.
  return gan.apply_arg(config, arg)
