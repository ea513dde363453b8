"""The classifier task's config: the seed's CNN on 32x32x1, trained by the
shared loop, evaluated on the held-out split every `train.eval_every_steps`.
configs/classifier.py starts from `default_config()`; importing this module
loads no training machinery."""

import ml_collections

from cnnjax import config as config_lib
from cnnjax import models

TINY = {"model.classifier.base_width": 8, "train.eval_every_steps": 10}


def default_config() -> ml_collections.ConfigDict:
  """Every field a classifier run has."""
  config = config_lib.shared_config("classifier")
  config.model = ml_collections.ConfigDict()
  # Conv widths g-2g-4g; the dense layer of feature_dim is FID's features.
  config.model.classifier = models.network_config(
      "classifier", "cnn", base_width=32, feature_dim=128)
  config.model.num_classes = 10
  config.eval = ml_collections.ConfigDict()
  config.eval.split = "test"
  config.optim = config_lib.adam_config(lr=1e-3)
  config.train.batch_size = 128
  config.train.log_every_steps = 100
  config.train.eval_every_steps = 1000
  config.train.checkpoint_every_steps = 1000
  return config


def apply_arg(config: ml_collections.ConfigDict,
              arg: str | None) -> ml_collections.ConfigDict:
  return config_lib.apply_arg(config, arg, TINY)


def validate(config: ml_collections.ConfigDict) -> None:
  check = config_lib.check
  check(config.model.num_classes > 1, "model.num_classes must be > 1.")
  models.check("classifier", config.model.classifier,
               resolution=config.data.resolution,
               num_classes=config.model.num_classes)
  config_lib.check_adam(config.optim)
  check(config.train.eval_every_steps > 0,
        "train.eval_every_steps must be positive.")
