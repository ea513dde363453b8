"""The adain task's config: a decoder trained to invert VGG-19's relu4_1
features with a style's statistics (Huang & Belongie 2017).

  data            content images (RGB; gray datasets are repeated), random
                  square crops at data.resolution
  style_data      style images: name, split, data_dir and crop of a second
                  stream; resolution, channels and resize method are
                  data's (the two are drawn in step: cnnjax.data.pipeline)
  model.vgg       the frozen encoder and loss network, a cnnjax.nets spec
                  (vgg19:<file.npz> or vgg19:random[:<seed>]); its weights
                  up to relu4_1 are copied into the state at step 0
  model.decoder   {name, **the family's fields} (cnnjax.models.decoder)
  loss            content_weight, style_weight (the paper's 1 and 10)
  eval            held-out pairs: content image i of eval.split with style
                  image i mod n of eval.style_split, centre crops

The paper's setting is the default: 256 px crops, batch 8, Adam at 1e-4
(without its inverse-time decay), style weight 10, 160,000 steps.

Importing this module loads no training machinery.
"""

import ml_collections

from cnnjax import config as config_lib
from cnnjax import models

RESOLUTIONS = (32, 64, 128, 256)  # multiples of 8: relu4_1 is 1/8 of a side
RANDOM_VGG = "vgg19:random:0"
TINY = {"data.resolution": 32, "data.channels": 3, "style_data.name": "digits",
        "style_data.split": "test", "train.batch_size": 8,
        "model.decoder.base_width": 8, "model.vgg": RANDOM_VGG,
        "train.sample_every_steps": 10, "eval.num_images": 8,
        "eval.split": "test", "eval.style_split": "train",
        "eval.batch_size": 8}


def default_config() -> ml_collections.ConfigDict:
  """Every field an adain run has."""
  config = config_lib.shared_config("adain")
  config.data.name = ""  # content images, e.g. folder:<path>
  config.data.channels = 3
  config.data.resolution = 256
  config.data.crop = "random"

  config.style_data = ml_collections.ConfigDict()
  config.style_data.name = ""  # style images, e.g. folder:<path>
  config.style_data.split = "train"
  config.style_data.data_dir = ""
  config.style_data.crop = "random"

  config.model = ml_collections.ConfigDict()
  config.model.vgg = RANDOM_VGG  # configs/adain.py prefers converted weights
  config.model.decoder = models.network_config("decoder", "adain",
                                               base_width=64)
  config.model.compute_dtype = "float32"  # the decoder's; VGG runs in float32

  config.loss = ml_collections.ConfigDict()
  config.loss.content_weight = 1.0
  config.loss.style_weight = 10.0

  config.optim = config_lib.adam_config(lr=1e-4)

  config.eval = ml_collections.ConfigDict()
  # A folder's "test" split is the ~10% of its images a hash of their
  # paths picks; a folder without enough of them takes "all".
  config.eval.split = "test"
  config.eval.style_split = "test"
  config.eval.num_images = 32
  config.eval.batch_size = 16
  config.eval.every_steps = 0  # 0 = off; `cnnjax eval` measures a checkpoint

  config.train.batch_size = 8
  config.train.num_steps = 160_000
  config.train.sample_every_steps = 1000
  return config


def stream(config: ml_collections.ConfigDict,
           split: str | None = None) -> ml_collections.ConfigDict:
  """The style images' data section: config.data with style_data's source
  (and `split`, for evaluations)."""
  section = ml_collections.ConfigDict(config.data.to_dict())
  for field in ("name", "split", "data_dir", "crop"):
    section[field] = config.style_data[field]
  if split is not None:
    section.split = split
  return section


def apply_arg(config: ml_collections.ConfigDict,
              arg: str | None) -> ml_collections.ConfigDict:
  return config_lib.apply_arg(config, arg, TINY)


def validate(config: ml_collections.ConfigDict) -> None:
  check = config_lib.check
  check(bool(config.data.name) and bool(config.style_data.name),
        "an adain run needs content and style images: set data.name and "
        "style_data.name (configs/adain.py:content=folder:DIR,"
        "style=folder:DIR does).")
  check(config.data.channels == 3,
        f"data.channels={config.data.channels}: style transfer works on RGB "
        "(gray datasets are repeated to RGB with data.channels=3).")
  check(config.style_data.crop in ("center", "random"),
        f"style_data.crop={config.style_data.crop!r} must be center or "
        "random.")
  check(config.model.vgg.split(":")[0] == "vgg19",
        f"model.vgg={config.model.vgg!r}: the encoder is VGG-19 "
        "(vgg19:<file.npz> or vgg19:random[:<seed>]).")
  models.check("decoder", config.model.decoder,
               resolution=config.data.resolution, num_classes=0)
  check(config.model.compute_dtype in models.COMPUTE_DTYPES,
        f"model.compute_dtype must be one of {sorted(models.COMPUTE_DTYPES)}.")
  for name in ("content_weight", "style_weight"):
    check(config.loss[name] >= 0, f"loss.{name} must be >= 0.")
  config_lib.check_adam(config.optim)
  check(config.eval.num_images >= 1, "eval.num_images must be >= 1.")
  check(config.eval.batch_size >= 1, "eval.batch_size must be >= 1.")
  check(config.eval.every_steps >= 0, "eval.every_steps must be >= 0.")
  check(config.train.sample_every_steps > 0,
        "train.sample_every_steps must be positive.")
