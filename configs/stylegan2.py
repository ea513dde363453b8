"""StyleGAN2 (Karras et al. 2020) as stylegan2-ada-pytorch trains it:
mapping network, modulated convolutions, noise, skip toRGB; residual D with
minibatch stddev; non-saturating loss, lazy R1 (every 16 D steps), path
length regularisation (every 4 G steps), style mixing, EMA with ramp-up,
Adam(lr, 0, 0.99) with the lazy-regularisation correction.

Arguments (after the colon in --config=configs/stylegan2.py:ARG):
  fashion_mnist  32x32x1 Fashion-MNIST (the default) at a CPU-sized width:
                 stylegan2-ada-pytorch's CIFAR-10 settings (mapping depth 2,
                 R1 gamma 0.01, mbstd group 32, no path length
                 regularisation or style mixing) at a width a 2-core CPU
                 trains: channel_base 512, channel_max 128 (128 channels
                 at 4 px, 64 at 8, 32 at 16, 16 at 32; about 1.5x the
                 DCGAN step's FLOPs), z and w 128-dimensional.
  digits         the same on scikit-learn's digits.
  rgb64, rgb128, rgb256
                 the paper's settings for RGB data at that resolution, as
                 stylegan2-ada-pytorch's 'auto' config for one GPU
                 (channel_base 16384, channel_max 512, mapping depth 2, the
                 batch min(4096 / res, 32), gamma 0.0002 res^2 / batch, EMA
                 half-life batch * 10 / 32 kimg, mbstd group 4) with path
                 length regularisation and style mixing on. Name the data:
                 --config.data.name=folder:<path> or tfds:<name>.
  cond           class-conditional (10 classes): a class embedding into the
                 mapping network, projection D. `cnnjax sample --class K`.
  tiny           a seconds-long run on digits for tests, every regulariser
                 on (lazy R1 every 2, path length every 2, style mixing).
Combine with commas: "fashion_mnist,cond", "digits,tiny".
`cnnjax sample --truncation PSI` pulls w toward its average.
"""

from cnnjax import config as config_lib
from cnnjax import models
from cnnjax.tasks.gan import config as gan

PRESETS = ("rgb64", "rgb128", "rgb256")


def get_config(arg: str | None = None):
  parts = [p for p in (arg or "").split(",") if p]
  preset = [p for p in parts if p in PRESETS]
  conditional = "cond" in parts
  rest = ",".join(p for p in parts if p not in PRESETS and p != "cond")

  config = gan.default_config()
  config.loss.name = "non_saturating"
  config.optim.b1, config.optim.b2 = 0.0, 0.99
  config.loss.r1_every = 16
  config.loss.pl_every = 4
  if preset:
    resolution = int(preset[0][3:])
    batch = min(4096 // resolution, 32)
    config.data.name = ""  # the user names the data
    config.data.resolution, config.data.channels = resolution, 3
    config.train.batch_size = batch
    widths = dict(channel_base=16384, channel_max=512)
    generator = dict(latent_dim=512, w_dim=512, mapping_layers=2,
                     style_mixing=0.9)
    discriminator = dict(mbstd_group=4)
    config.loss.r1_gamma = 0.0002 * resolution ** 2 / batch
    config.loss.pl_weight = 2.0
    config.optim.g_lr = config.optim.d_lr = 0.0025
    config.ema.half_life_kimg = batch * 10 / 32
  else:  # Fashion-MNIST / digits at 32 px, CIFAR-10's settings, CPU width
    config.data.resolution = 32
    widths = dict(channel_base=512, channel_max=128)
    generator = dict(latent_dim=128, w_dim=128, mapping_layers=2,
                     style_mixing=0.0)
    discriminator = dict(mbstd_group=32)
    config.loss.r1_gamma = 0.01
    config.loss.pl_weight = 0.0
    config.optim.g_lr = config.optim.d_lr = 0.0025
    config.ema.half_life_kimg = 20.0
  config.ema.rampup = 0.05
  config.model.num_classes = 10 if conditional else 0
  config.model.generator = models.network_config(
      "generator", "stylegan2", **generator, **widths)
  config.model.discriminator = models.network_config(
      "discriminator", "stylegan2", mapping_layers=2, **discriminator,
      **widths)
  # tiny: every phase on, at a width that compiles in seconds.
  tiny = {"model.generator.latent_dim": 16, "model.generator.w_dim": 16,
          "model.generator.channel_base": 128,
          "model.generator.channel_max": 16,
          "model.generator.style_mixing": 0.9,
          "model.discriminator.channel_base": 128,
          "model.discriminator.channel_max": 16,
          "model.discriminator.mbstd_group": 4,
          "loss.r1_gamma": 0.1, "loss.r1_every": 2,
          "loss.pl_weight": 2.0, "loss.pl_every": 2,
          "data.resolution": 32}
  if preset:
    config_lib.parse_arg(rest, ())  # no dataset name with a preset
  return gan.apply_arg(config, rest, **tiny)
