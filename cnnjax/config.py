"""The config fields every task shares, config-file arguments, and resume
diffs.

A config file in `configs/` starts from its task's `default_config()`
(`shared_config()` plus the task's own sections) and overrides fields, so
every run of a task has the same keys and `--config.a.b=value` works for all
of them. The resolved config is the contract of a run: it is written to the
workdir as `config.json` and compared on resume. This module knows no task.
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
    "train.sample_every_steps",  # the GAN's sample grids
    "train.checkpoint_every_steps",
    "train.eval_every_steps",
    "train.keep_checkpoints",
    "train.progress_bar",
    "train.on_nonfinite",  # what to do if it diverges, not what it computes
    "train.max_rollbacks",
    "eval.",  # evaluation reads the state; it never changes training
    "data.num_threads",
    "data.prefetch",
    "wandb.",
)

# Fields added after workdirs were first written, with the value that
# computes what those workdirs did: a workdir without the field had it.
ADDED_FIELDS = {"data.crop": "center"}

WANDB_MODES = ("auto", "online", "offline", "disabled")


def shared_config(task: str) -> ml_collections.ConfigDict:
  """The fields every task has: data, the run's length and cadence, a warm
  start and W&B. A task's `default_config()` adds its own sections."""
  config = ml_collections.ConfigDict()
  config.task = task  # a name in cnnjax.tasks

  config.data = ml_collections.ConfigDict()
  config.data.name = "fashion_mnist"  # or digits, tfds:<name>, folder:<path>
  config.data.split = "train"
  config.data.data_dir = ""  # "" = $CNNJAX_DATA_DIR, $TFDS_DATA_DIR, ~/tensorflow_datasets
  config.data.resolution = 32
  config.data.channels = 1
  config.data.resize_method = "auto"
  # Where the largest square of a non-square image is cut, in training:
  # "center", or "random" (a new place each epoch). Evaluations use the center.
  config.data.crop = "center"
  config.data.num_threads = 2
  config.data.prefetch = 4

  config.train = ml_collections.ConfigDict()
  config.train.seed = 0
  config.train.batch_size = 64  # global, over all devices and hosts
  config.train.num_steps = 5000
  config.train.log_every_steps = 50
  config.train.checkpoint_every_steps = 500
  config.train.keep_checkpoints = 3
  config.train.progress_bar = "auto"  # "auto" (on a terminal), "on", "off"
  # A step whose losses or new state are not finite: "stop" (the last good
  # checkpoint is kept), or "rollback" to it, skipping the batches that led
  # there, at most max_rollbacks times (cnnjax/train/sentry.py).
  config.train.on_nonfinite = "stop"
  config.train.max_rollbacks = 3

  # Warm start (params-only, as MaxText's load_parameters_from_path): when
  # the workdir has no checkpoint yet, a subtree of another run's checkpoint
  # replaces the freshly initialised one, e.g. a trained generator for an
  # encoder. `subtree` is a dotted path of the state ("generator",
  # "discriminator.params"), or SOURCE:TARGET to load it into another place
  # ("ema_params:generator.params"), or several of those, comma-separated,
  # later ones refining earlier ones ("generator,ema_params:generator.params":
  # G's buffers from its run, its params from that run's EMA).
  config.init_from = ml_collections.ConfigDict()
  config.init_from.workdir = ""  # "" = no warm start
  config.init_from.step = ""  # "" = the newest, a step number, or "best"
  config.init_from.subtree = ""

  config.wandb = ml_collections.ConfigDict()
  config.wandb.mode = "auto"
  config.wandb.project = "cnnjax"
  config.wandb.entity = ""
  config.wandb.group = ""
  config.wandb.tags = ""  # comma-separated
  config.wandb.name = ""  # "" = the workdir's name
  return config


DATASETS = ("fashion_mnist", "digits")
# What "tiny" sets in every task: seconds-long runs on digits for tests.
TINY = {"train.batch_size": 16, "train.num_steps": 20,
        "train.log_every_steps": 5, "train.checkpoint_every_steps": 10,
        "wandb.mode": "disabled"}


# Variants every config file's argument takes as NAME=VALUE (as big_vision's
# `parse_arg`), e.g. configs/sngan.py:fashion_mnist,width=64: the fields
# each sets ("*" is every network role that has the field).
VARIANTS = {"width": "model.*.base_width", "steps": "train.num_steps",
            "batch": "train.batch_size", "seed": "train.seed",
            "res": "data.resolution"}


def apply_arg(config: ml_collections.ConfigDict, arg: str | None,
              tiny: dict[str, Any] | None = None) -> ml_collections.ConfigDict:
  """Applies a config file's argument: a dataset name, "tiny" and `VARIANTS`
  as NAME=VALUE, comma-separated ("fashion_mnist,width=64").

  "tiny" shrinks the run to seconds on digits (for tests and smoke runs):
  the shared `TINY` fields, then `tiny`, the dotted fields of the task and
  family, e.g. `{"model.generator.base_width": 8}`. Variants come last.
  """
  dataset, is_tiny = parse_arg(arg, DATASETS)
  if dataset:
    config.data.name = dataset
  if is_tiny:
    config.data.name = dataset or "digits"
    for field, value in {**TINY, **(tiny or {})}.items():
      set_field(config, field, value)
  for name, text in _variants(arg).items():
    pattern = VARIANTS[name]
    fields = ([pattern.replace("*", role) for role, section in
               config.model.items() if hasattr(section, "items") and
               "base_width" in section] if "*" in pattern else [pattern])
    if not fields:
      raise ConfigError(
          f"Config variant {name}={text} sets {pattern}, which no network "
          "of this config has; set its own width fields with --config.model."
          "<role>.<field> (e.g. channel_base for stylegan2).")
    for field in fields:
      set_field(config, field, _typed(text, get_field(config, field),
                                      f"{name}={text}"))
  return config


def parse_arg(arg: str | None, known: tuple[str, ...]) -> tuple[str, bool]:
  """Splits a config file argument such as "fashion_mnist,tiny,width=32".

  Returns the dataset name (or "" when none is given) and whether the tiny
  variant was asked for; NAME=VALUE variants are checked here and applied
  by `apply_arg`.
  """
  parts = [p for p in (arg or "").split(",") if p and "=" not in p]
  _variants(arg)
  is_tiny = "tiny" in parts
  rest = [p for p in parts if p != "tiny"]
  if len(rest) > 1 or (rest and rest[0] not in known):
    raise ConfigError(
        f"Unknown config argument {arg!r}; use one of {', '.join(known)}, "
        "optionally with ',tiny' and variants "
        f"{', '.join(n + '=N' for n in VARIANTS)} (e.g. "
        "'fashion_mnist,width=32').")
  return (rest[0] if rest else ""), is_tiny


def _variants(arg: str | None) -> dict[str, str]:
  found = {}
  for part in (arg or "").split(","):
    if "=" in part:
      name, _, text = part.partition("=")
      if name not in VARIANTS:
        raise ConfigError(
            f"Unknown config variant {name!r} in {arg!r}; the variants are "
            f"{', '.join(f'{n} ({f})' for n, f in VARIANTS.items())}.")
      found[name] = text
  return found


def _typed(text: str, current: Any, where: str) -> Any:
  """`text` as the type of the field's current value."""
  try:
    return type(current)(text)
  except ValueError:
    raise ConfigError(f"Config variant {where}: {text!r} is not "
                      f"{_ARTICLE.get(type(current), 'a value')}.") from None


def get_field(config: ml_collections.ConfigDict, field: str) -> Any:
  for name in field.split("."):
    config = config[name]
  return config


def set_field(config: ml_collections.ConfigDict, field: str,
              value: Any) -> None:
  """Sets a dotted field ("model.generator.base_width") of `config`."""
  *sections, key = field.split(".")
  section = get_field(config, ".".join(sections)) if sections else config
  section[key] = value


def check(ok: bool, message: str) -> None:
  """Raises the ConfigError of a failed validation."""
  if not ok:
    raise ConfigError(f"Invalid config: {message}")


RESOLUTIONS = (28, 32, 64)  # what the GAN families are built for


def validate_shared(config: ml_collections.ConfigDict, num_devices: int,
                    resolutions: tuple[int, ...] = RESOLUTIONS) -> None:
  """Checks of the fields every task has: data, batch, cadence, warm
  start, W&B. Tasks check their own sections (`Task.validate`) and say
  which `resolutions` they train at."""
  check(config.data.resolution in resolutions,
        f"data.resolution={config.data.resolution} must be "
        f"{', '.join(map(str, resolutions[:-1]))} or {resolutions[-1]}.")
  check(config.data.channels in (1, 3),
        f"data.channels={config.data.channels} must be 1 or 3.")
  check(config.data.resize_method in ("auto", "pad", "bilinear", "nearest"),
        f"data.resize_method={config.data.resize_method!r} must be auto, pad, "
        "bilinear or nearest.")
  check(config.data.crop in ("center", "random"),
        f"data.crop={config.data.crop!r} must be center or random.")
  batch = config.train.batch_size
  check(batch > 0 and batch % num_devices == 0,
        f"train.batch_size={batch} must be a positive multiple of the "
        f"{num_devices} devices; use e.g. --config.train.batch_size="
        f"{max(1, batch // num_devices) * num_devices or num_devices}.")
  check(config.train.num_steps >= 0, "train.num_steps must be >= 0.")
  for field in ("log_every_steps", "checkpoint_every_steps",
                "keep_checkpoints"):
    check(config.train[field] > 0, f"train.{field} must be positive.")
  check(config.train.progress_bar in ("auto", "on", "off"),
        "train.progress_bar must be auto, on or off.")
  check(config.train.on_nonfinite in ("stop", "rollback"),
        f"train.on_nonfinite={config.train.on_nonfinite!r} must be stop or "
        "rollback.")
  check(config.train.max_rollbacks >= 0, "train.max_rollbacks must be >= 0.")
  check(config.wandb.mode in WANDB_MODES,
        f"wandb.mode={config.wandb.mode!r} must be one of {WANDB_MODES}.")
  init_from = config.init_from
  check(bool(init_from.workdir) == bool(init_from.subtree),
        "init_from.workdir and init_from.subtree go together: name the run "
        "to start from and which parts of its state to take (e.g. "
        "--config.init_from.subtree=generator).")
  step = init_from.step
  check(step in ("", "best") or step.isdigit(),
        f"init_from.step={step!r} must be empty (the newest), a step number "
        "or 'best'.")


def adam_config(lr: float, b1: float = 0.9,
                b2: float = 0.999) -> ml_collections.ConfigDict:
  """An `optim` section of one Adam optimizer (the classifier's, the
  encoder's)."""
  return ml_collections.ConfigDict({"lr": lr, "b1": b1, "b2": b2})


def check_adam(optim: ml_collections.ConfigDict) -> None:
  check(optim.lr > 0, "optim.lr must be positive.")
  for field in ("b1", "b2"):
    check(0 <= optim[field] < 1, f"optim.{field} must be in [0, 1).")


def warm_start_subtrees(config) -> list[tuple[str, str]]:
  """init_from.subtree as (source path, target path) pairs."""
  pairs = []
  for item in (s.strip() for s in config.init_from.subtree.split(",")):
    if item:
      source, _, target = item.partition(":")
      pairs.append((source, target or source))
  return pairs


def to_dict(config: ml_collections.ConfigDict) -> dict[str, Any]:
  """The config as plain JSON-compatible data."""
  return json.loads(config.to_json_best_effort())


def from_dict(values: dict[str, Any],
              defaults: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
  """Rebuilds a config written by `to_dict` (e.g. a workdir's config.json)
  on top of its task's `defaults`: fields that a later version of cnnjax
  added get their defaults, so older workdirs stay readable."""
  default_values = to_dict(defaults)
  merged = _merge(default_values, values)
  _check_types(default_values, merged, "")
  return ml_collections.ConfigDict(merged)


_ARTICLE = {int: "an int", float: "a float", str: "a str", bool: "a bool"}


def _check_types(defaults: dict, values: dict, prefix: str) -> None:
  """Each field of `values` has its default's type (a float field may hold
  an int): a hand-edited config.json is refused, not misread."""
  for key, value in values.items():
    default = defaults.get(key)
    if isinstance(default, dict) and isinstance(value, dict):
      if value.get("name", default.get("name")) == default.get("name"):
        _check_types(default, value, f"{prefix}{key}.")
      continue
    if default is None or value is None:
      continue
    kind = type(default)
    fits = (isinstance(value, (int, float)) and not isinstance(value, bool)
            if kind is float else
            isinstance(value, int) and not isinstance(value, bool)
            if kind is int else isinstance(value, kind))
    if not fits:
      raise ConfigError(
          f"Invalid config: {prefix}{key} is {value!r} (a "
          f"{type(value).__name__}) where "
          f"{_ARTICLE.get(kind, 'a ' + kind.__name__)} is expected.")


def _merge(defaults: dict[str, Any], values: dict[str, Any]) -> dict[str, Any]:
  merged = dict(defaults)
  for key, value in values.items():
    default = defaults.get(key)
    # A section with a `name` (a network's family) has that family's fields:
    # another family's defaults do not apply to it.
    if (isinstance(value, dict) and isinstance(default, dict) and
        value.get("name", default.get("name")) == default.get("name")):
      merged[key] = _merge(default, value)
    else:
      merged[key] = value
  return merged


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
    was = old_flat.get(key, ADDED_FIELDS.get(key, "<absent>"))
    if was != new_flat.get(key, "<absent>"):
      lines.append(f"  {key}: {was!r} in the workdir, "
                   f"{new_flat.get(key, '<absent>')!r} now")
  return lines
