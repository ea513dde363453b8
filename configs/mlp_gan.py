"""The seed's fully connected GAN: 256-512-1024 hidden units, LeakyReLU(0.2), tanh.

Arguments (after the colon in --config=configs/mlp_gan.py:ARG):
  fashion_mnist  28x28x1 Fashion-MNIST, the default
  digits         scikit-learn's 8x8 digits upsampled to 28x28
  tiny           a seconds-long run on digits, for tests; combine: "fashion_mnist,tiny"
"""

from cnnjax import config as base


def get_config(arg: str | None = None):
  dataset, is_tiny = base.parse_arg(arg, ("fashion_mnist", "digits"))
  config = base.base_config()
  config.model.name = "mlp"
  config.model.base_width = 256  # hidden widths 256-512-1024
  config.data.resolution = 28
  config.train.batch_size = 64
  config.train.num_steps = 10000
  if dataset == "digits":
    config.data.name = "digits"
    config.train.num_steps = 3000
  if is_tiny:
    config = base.tiny(config)
    config.data.resolution = 28
    config.model.base_width = 16
    if dataset:
      config.data.name = dataset
  return config
