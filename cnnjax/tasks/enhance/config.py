"""The enhance task's config: a small CNN that predicts global adjustment
parameters (cnnjax.editing.adjust) from a downscaled photograph, trained to
undo random degradations of the training photographs.

  data            photographs (configs/enhance.py:folder=DIR), RGB, seen at
                  data.resolution: training crops, and the size every image
                  is squashed to for the network at inference
  model.enhancer  {name, **the family's fields} (cnnjax.models.enhancer)
  degrade         the random degradations, half-widths in stops (exposure,
                  white_balance, contrast, saturation) and the standard
                  deviation of the tone curve's logits (adjust.sample)
  eval            held-out photographs, each degraded by fixed, seeded
                  degradations: PSNR and SSIM of the model and of
                  scikit-image's baselines (cnnjax.tasks.enhance.evaluate)

Importing this module loads no training machinery.
"""

import ml_collections

from cnnjax import config as config_lib
from cnnjax import models

TINY = {"data.resolution": 32, "model.enhancer.base_width": 8,
        "model.enhancer.num_levels": 3, "model.enhancer.hidden_dim": 16,
        "train.sample_every_steps": 10,
        "eval.num_images": 8, "eval.size": 32}


def default_config() -> ml_collections.ConfigDict:
  """Every field an enhance run has."""
  config = config_lib.shared_config("enhance")
  config.data.channels = 3
  config.data.resolution = 64
  config.data.crop = "random"
  config.model = ml_collections.ConfigDict()
  config.model.enhancer = models.network_config(
      "enhancer", "cnn", base_width=16, num_levels=4, hidden_dim=64,
      histogram_bins=16)
  config.model.compute_dtype = "float32"

  config.degrade = ml_collections.ConfigDict()
  config.degrade.exposure = 1.0  # stops, +-
  config.degrade.white_balance = 0.4  # stops of red and of blue, +-
  config.degrade.contrast = 0.7  # stops, +-
  config.degrade.saturation = 0.7  # stops, +-
  config.degrade.curve = 0.3  # std of the tone curve's logits
  # Training only: each original is first varied by a degradation of this
  # fraction of the ranges (never undone; the network learns to restore
  # the varied image), so that a training photo has no one look that the
  # network could memorise and recognise (experiments/2026-12-03-enhance:
  # +0.5 to +1.3 dB on held-out photos). 0 = off.
  config.degrade.target_jitter = 0.35

  config.optim = config_lib.adam_config(lr=1e-3)

  config.eval = ml_collections.ConfigDict()
  # Held-out photographs: eval.dataset ("" = data.name) split eval.split.
  # A folder's "test" split is the ~10% its hash of paths picks; a folder of
  # held-out photos of its own takes eval.split "all".
  config.eval.dataset = ""
  config.eval.split = "test"
  # Degraded images: photo i % num_photos with degradation i (seeded by
  # eval.seed, drawn from the `degrade` ranges).
  config.eval.num_images = 32
  config.eval.seed = 0
  # 0: each photo at its own size; N: its centre square at N x N.
  config.eval.size = 0
  config.eval.every_steps = 0  # 0 = off; `cnnjax eval` measures a checkpoint

  config.train.batch_size = 32
  config.train.num_steps = 3000
  config.train.sample_every_steps = 500
  return config


def apply_arg(config: ml_collections.ConfigDict,
              arg: str | None) -> ml_collections.ConfigDict:
  return config_lib.apply_arg(config, arg, TINY)


def validate(config: ml_collections.ConfigDict) -> None:
  check = config_lib.check
  check(config.data.channels == 3,
        f"data.channels={config.data.channels}: enhancement adjusts colour, "
        "so it trains on RGB (gray datasets are repeated to RGB with "
        "data.channels=3).")
  models.check("enhancer", config.model.enhancer,
               resolution=config.data.resolution, num_classes=0)
  check(config.model.compute_dtype in models.COMPUTE_DTYPES,
        f"model.compute_dtype must be one of {sorted(models.COMPUTE_DTYPES)}.")
  for name in ("exposure", "white_balance", "contrast", "saturation",
               "curve", "target_jitter"):
    check(config.degrade[name] >= 0, f"degrade.{name} must be >= 0.")
  config_lib.check_adam(config.optim)
  check(config.eval.num_images >= 1, "eval.num_images must be >= 1.")
  check(config.eval.size == 0 or config.eval.size >= 16,
        f"eval.size={config.eval.size} must be 0 (each photo's own size) or "
        "at least 16 (SSIM's 11x11 window needs room).")
  check(config.eval.every_steps >= 0, "eval.every_steps must be >= 0.")
  check(config.train.sample_every_steps > 0,
        "train.sample_every_steps must be positive.")
