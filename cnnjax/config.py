"""The config schema shared by every GAN config file, and its validation.

Config files in `configs/` start from `base_config()` and override fields, so
every run has the same keys and `--config.a.b=value` works for all of them.
The resolved config is the contract of a run: it is written to the workdir as
`config.json` and compared on resume.
"""

import json
from typing import Any

import ml_collections

from cnnjax.errors import ConfigError

# Fields that may change between a run and its resumption because they do not
# change what is computed: how long to train, and how often to log, sample,
# checkpoint or report. Anything else changing would silently mix two
# experiments in one workdir.
RESUMABLE_CHANGES = (
    "train.num_steps",
    "train.log_every_steps",
    "train.sample_every_steps",
    "train.checkpoint_every_steps",
    "train.keep_checkpoints",
    "train.progress_bar",
    "data.num_threads",
    "data.prefetch",
    "wandb.",
)

WANDB_MODES = ("auto", "online", "offline", "disabled")


def base_config() -> ml_collections.ConfigDict:
  """Every field a GAN run has, with the defaults of the canonical DCGAN."""
  config = ml_collections.ConfigDict()

  config.model = ml_collections.ConfigDict()
  config.model.name = "dcgan"  # a name in cnnjax.models.GENERATORS
  config.model.latent_dim = 100
  config.model.base_width = 64  # g in the widths 4g-2g-g (DCGAN) or hidden width unit
  config.model.bn_momentum = 0.9  # PyTorch's momentum=0.1

  config.data = ml_collections.ConfigDict()
  config.data.name = "fashion_mnist"
  config.data.split = "train"
  config.data.data_dir = ""  # "" = $CNNJAX_DATA_DIR, $TFDS_DATA_DIR, ~/tensorflow_datasets
  config.data.resolution = 32
  config.data.channels = 1
  config.data.resize_method = "auto"
  config.data.num_threads = 2
  config.data.prefetch = 4

  config.loss = ml_collections.ConfigDict()
  config.loss.name = "non_saturating"

  config.optim = ml_collections.ConfigDict()
  config.optim.g_lr = 2e-4
  config.optim.d_lr = 2e-4
  config.optim.b1 = 0.5
  config.optim.b2 = 0.999

  config.ema = ml_collections.ConfigDict()
  # Half-life of the generator EMA in thousands of images; 0 disables it.
  config.ema.half_life_kimg = 0.0

  config.train = ml_collections.ConfigDict()
  config.train.seed = 0
  config.train.batch_size = 64  # global, over all devices and hosts
  config.train.num_steps = 5000
  config.train.log_every_steps = 50
  config.train.sample_every_steps = 500
  config.train.checkpoint_every_steps = 500
  config.train.keep_checkpoints = 3
  config.train.progress_bar = "auto"  # "auto" (on a terminal), "on", "off"

  config.wandb = ml_collections.ConfigDict()
  config.wandb.mode = "auto"
  config.wandb.project = "cnnjax"
  config.wandb.entity = ""
  config.wandb.group = ""
  config.wandb.tags = ""  # comma-separated
  config.wandb.name = ""  # "" = the workdir's name
  return config


def tiny(config: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
  """Shrinks a config to a seconds-long run on digits, for tests and smoke runs."""
  config.data.name = "digits"
  config.data.resolution = 32
  config.data.channels = 1
  config.model.latent_dim = 16
  config.model.base_width = 8
  config.train.batch_size = 16
  config.train.num_steps = 20
  config.train.log_every_steps = 5
  config.train.sample_every_steps = 10
  config.train.checkpoint_every_steps = 10
  config.wandb.mode = "disabled"
  return config


def parse_arg(arg: str | None, known: tuple[str, ...]) -> tuple[str, bool]:
  """Splits a config file argument such as "fashion_mnist,tiny" or "tiny".

  Returns the dataset name (or "" when only "tiny" is given) and whether the
  tiny variant was asked for.
  """
  parts = [p for p in (arg or "").split(",") if p]
  is_tiny = "tiny" in parts
  rest = [p for p in parts if p != "tiny"]
  if len(rest) > 1 or (rest and rest[0] not in known):
    raise ConfigError(
        f"Unknown config argument {arg!r}; use one of {', '.join(known)}, "
        "optionally followed by ',tiny' (or just 'tiny').")
  return (rest[0] if rest else ""), is_tiny


def validate(config: ml_collections.ConfigDict, num_devices: int) -> None:
  """Checks the values that types alone cannot, before anything compiles."""
  # Imported here because the registries import model code.
  from cnnjax import losses, models

  def check(ok: bool, message: str) -> None:
    if not ok:
      raise ConfigError(f"Invalid config: {message}")

  check(config.model.name in models.GENERATORS,
        f"model.name={config.model.name!r} is not one of "
        f"{sorted(models.GENERATORS)}.")
  check(config.loss.name in losses.LOSSES,
        f"loss.name={config.loss.name!r} is not one of {sorted(losses.LOSSES)}.")
  check(config.data.resolution in (28, 32, 64),
        f"data.resolution={config.data.resolution} must be 28, 32 or 64.")
  check(config.data.channels in (1, 3),
        f"data.channels={config.data.channels} must be 1 or 3.")
  check(config.data.resize_method in ("auto", "pad", "bilinear", "nearest"),
        f"data.resize_method={config.data.resize_method!r} must be auto, pad, "
        "bilinear or nearest.")
  for field in ("latent_dim", "base_width"):
    check(config.model[field] > 0, f"model.{field} must be positive.")
  check(0.0 <= config.model.bn_momentum < 1.0,
        "model.bn_momentum must be in [0, 1).")
  batch = config.train.batch_size
  check(batch > 0 and batch % num_devices == 0,
        f"train.batch_size={batch} must be a positive multiple of the "
        f"{num_devices} devices; use e.g. --config.train.batch_size="
        f"{max(1, batch // num_devices) * num_devices or num_devices}.")
  check(config.train.num_steps >= 0, "train.num_steps must be >= 0.")
  for field in ("log_every_steps", "sample_every_steps",
                "checkpoint_every_steps", "keep_checkpoints"):
    check(config.train[field] > 0, f"train.{field} must be positive.")
  check(config.train.progress_bar in ("auto", "on", "off"),
        "train.progress_bar must be auto, on or off.")
  for field in ("g_lr", "d_lr"):
    check(config.optim[field] > 0, f"optim.{field} must be positive.")
  for field in ("b1", "b2"):
    check(0 <= config.optim[field] < 1, f"optim.{field} must be in [0, 1).")
  check(config.ema.half_life_kimg >= 0, "ema.half_life_kimg must be >= 0.")
  check(config.wandb.mode in WANDB_MODES,
        f"wandb.mode={config.wandb.mode!r} must be one of {WANDB_MODES}.")


def to_dict(config: ml_collections.ConfigDict) -> dict[str, Any]:
  """The config as plain JSON-compatible data."""
  return json.loads(config.to_json_best_effort())


def from_dict(values: dict[str, Any]) -> ml_collections.ConfigDict:
  """Rebuilds a config written by `to_dict` (e.g. a workdir's config.json)."""
  return ml_collections.ConfigDict(values)


def flatten(values: dict[str, Any], prefix: str = "") -> dict[str, Any]:
  """{"a": {"b": 1}} -> {"a.b": 1}."""
  flat = {}
  for key, value in values.items():
    if isinstance(value, dict):
      flat.update(flatten(value, f"{prefix}{key}."))
    else:
      flat[f"{prefix}{key}"] = value
  return flat


def differences(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
  """The fields that differ between two configs and would change the run."""
  old_flat, new_flat = flatten(old), flatten(new)
  lines = []
  for key in sorted(set(old_flat) | set(new_flat)):
    if any(key == f or (f.endswith(".") and key.startswith(f))
           for f in RESUMABLE_CHANGES):
      continue
    if old_flat.get(key, "<absent>") != new_flat.get(key, "<absent>"):
      lines.append(f"  {key}: {old_flat.get(key, '<absent>')!r} in the workdir, "
                   f"{new_flat.get(key, '<absent>')!r} now")
  return lines
