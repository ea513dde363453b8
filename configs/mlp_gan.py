"""The seed's fully connected GAN: 256-512-1024 hidden units, LeakyReLU(0.2), tanh.

Arguments (after the colon in --config=configs/mlp_gan.py:ARG):
  fashion_mnist  28x28x1 Fashion-MNIST, the default
  digits         scikit-learn's 8x8 digits upsampled to 28x28
  tiny           a seconds-long run on digits, for tests; combine: "fashion_mnist,tiny"
"""

from cnnjax import config as base


def get_config(arg: str | None = None):
  config = base.base_config()
  config.model.name = "mlp"
  config.model.base_width = 256  # hidden widths 256-512-1024
  config.data.resolution = 28
  config.train.num_steps = 10000
  return base.apply_arg(config, arg, **{"data.resolution": 28,
                                        "model.base_width": 16})
