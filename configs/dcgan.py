"""DCGAN (Radford et al. 2016): 4x4 kernels, stride 2, batch norm, widths 4g-2g-g.

Arguments (after the colon in --config=configs/dcgan.py:ARG):
  fashion_mnist  the canonical 32x32x1 model (g=64, z=100, batch 64), the default
  digits         scikit-learn's 8x8 digits upsampled to 32x32
  tiny           a seconds-long run on digits, for tests; combine: "fashion_mnist,tiny"
"""

from cnnjax.tasks.gan import config as gan


def get_config(arg: str | None = None):
  config = gan.default_config()  # the canonical DCGAN: g=64, z=100
  config.loss.name = "non_saturating"
  return gan.apply_arg(config, arg)
