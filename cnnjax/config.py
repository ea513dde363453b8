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
    "train.eval_every_steps",
    "train.keep_checkpoints",
    "train.progress_bar",
    "eval.",  # evaluation reads the state; it never changes training
    "data.num_threads",
    "data.prefetch",
    "wandb.",
)

WANDB_MODES = ("auto", "online", "offline", "disabled")


def base_config() -> ml_collections.ConfigDict:
  """Every field a GAN run has, with the defaults of the canonical DCGAN."""
  config = ml_collections.ConfigDict()
  config.task = "gan"  # a name in cnnjax.train.tasks.TASKS

  config.model = ml_collections.ConfigDict()
  config.model.name = "dcgan"  # a name in cnnjax.models.GENERATORS
  config.model.latent_dim = 100
  config.model.base_width = 64  # g in the widths 4g-2g-g (DCGAN) or hidden width unit
  config.model.bn_momentum = 0.9  # PyTorch's momentum=0.1
  config.model.num_classes = 0  # > 0: class-conditional G and D
  config.model.spectral_norm = True  # ResNet D: spectral norm on every layer
  # What G and D compute in: "float32", or "bfloat16" (parameters, optimizer,
  # EMA, batch statistics and losses stay float32; for GPUs and TPUs).
  config.model.compute_dtype = "float32"

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
  config.loss.name = "non_saturating"  # a name in cnnjax.losses.LOSSES
  config.loss.gp_weight = 0.0  # WGAN-GP's lambda (10 in the paper); 0 = off
  config.loss.r1_gamma = 0.0  # R1 weight gamma; 0 = off
  config.loss.r1_every = 16  # lazy R1: every k discriminator steps (1 = eager)

  config.optim = ml_collections.ConfigDict()
  config.optim.g_lr = 2e-4
  config.optim.d_lr = 2e-4
  config.optim.b1 = 0.5
  config.optim.b2 = 0.999

  config.ema = ml_collections.ConfigDict()
  # Half-life of the generator EMA in thousands of images; 0 disables it.
  config.ema.half_life_kimg = 0.0
  # Ramp-up: the half-life is at most rampup x images seen (0 = none).
  config.ema.rampup = 0.0

  config.augment = ml_collections.ConfigDict()
  config.augment.policy = ""  # DiffAugment: e.g. "color,translation,cutout"
  config.augment.probability = 1.0  # per-sample probability (without ADA)
  config.augment.same_for_real_and_fake = False
  config.augment.ada_target = 0.0  # ADA's target for E[sign D(real)]; 0 = off
  config.augment.ada_kimg = 500.0  # images for p to move by 1

  config.eval = ml_collections.ConfigDict()
  # Every N steps: FID, KID, precision/recall, IS (and class accuracy) into
  # metrics.jsonl and W&B, and a best checkpoint by FID; 0 = off.
  config.eval.every_steps = 0
  # A name in cnnjax.evaluation.extractors: "classifier" (the classifier at
  # <data dir>/cnnjax_classifiers/<dataset>), "classifier:<workdir>",
  # "inception_v3" or "inception_v3:<weights.npz>".
  config.eval.extractor = "classifier"
  config.eval.num_samples = 10000  # generated images per evaluation
  config.eval.num_real = 10000  # reference images (a fixed subset of split)
  config.eval.split = "train"
  config.eval.batch_size = 500  # rounded up to a multiple of the devices
  config.eval.seed = 0  # of the evaluation latents (the same at every step)

  config.train = ml_collections.ConfigDict()
  config.train.seed = 0
  config.train.batch_size = 64  # global, over all devices and hosts
  config.train.n_critic = 1  # discriminator updates per generator update
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


def classifier_base_config() -> ml_collections.ConfigDict:
  """Every field a classifier run has (the seed's CNN on 32x32x1)."""
  gan = base_config()
  config = ml_collections.ConfigDict()
  config.task = "classifier"
  config.model = ml_collections.ConfigDict()
  config.model.name = "cnn"
  config.model.base_width = 32  # conv widths g-2g-4g
  config.model.feature_dim = 128  # the dense layer: FID's feature space
  config.model.num_classes = 10
  config.data = gan.data  # the same datasets and preprocessing as the GANs
  config.eval = ml_collections.ConfigDict()
  config.eval.split = "test"
  config.optim = ml_collections.ConfigDict()
  config.optim.lr = 1e-3
  config.optim.b1 = 0.9
  config.optim.b2 = 0.999
  config.train = ml_collections.ConfigDict()
  config.train.seed = 0
  config.train.batch_size = 128
  config.train.num_steps = 5000
  config.train.log_every_steps = 100
  config.train.eval_every_steps = 1000
  config.train.checkpoint_every_steps = 1000
  config.train.keep_checkpoints = 3
  config.train.progress_bar = "auto"
  config.wandb = gan.wandb
  return config


DATASETS = ("fashion_mnist", "digits")


def apply_arg(config: ml_collections.ConfigDict, arg: str | None,
              **tiny_overrides) -> ml_collections.ConfigDict:
  """Applies a config file's argument: a dataset name and/or "tiny".

  "tiny" shrinks the run to seconds on digits (for tests and smoke runs);
  `tiny_overrides` are dotted fields a family sets on top of that, e.g.
  `apply_arg(config, arg, **{"model.base_width": 16})`.
  """
  dataset, is_tiny = parse_arg(arg, DATASETS)
  if dataset:
    config.data.name = dataset
  if not is_tiny:
    return config
  config.data.name = dataset or "digits"
  tiny_defaults = {"model.latent_dim": 16, "model.base_width": 8,
                   "train.batch_size": 16, "train.num_steps": 20,
                   "train.log_every_steps": 5, "train.sample_every_steps": 10,
                   "train.eval_every_steps": 10,
                   "train.checkpoint_every_steps": 10, "wandb.mode": "disabled",
                   "eval.num_samples": 128, "eval.num_real": 128,
                   "eval.batch_size": 64}
  for field, value in tiny_defaults.items():
    section, key = field.split(".")
    if key in config[section]:  # each task has its own fields
      config[section][key] = value
  for field, value in tiny_overrides.items():
    section, key = field.split(".")
    config[section][key] = value
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
  from cnnjax import augment, losses, models

  def check(ok: bool, message: str) -> None:
    if not ok:
      raise ConfigError(f"Invalid config: {message}")

  task = config.get("task", "gan")
  check(task in ("gan", "classifier"),
        f"task={task!r} must be gan or classifier.")
  _validate_shared(config, num_devices, check)
  if task == "classifier":
    check(config.model.num_classes > 1, "model.num_classes must be > 1.")
    check(config.model.feature_dim > 0 and config.model.base_width > 0,
          "model.feature_dim and model.base_width must be positive.")
    check(config.optim.lr > 0, "optim.lr must be positive.")
    check(config.train.eval_every_steps > 0,
          "train.eval_every_steps must be positive.")
    return

  check(config.model.name in models.GENERATORS,
        f"model.name={config.model.name!r} is not one of "
        f"{sorted(models.GENERATORS)}.")
  check(config.loss.name in losses.LOSSES,
        f"loss.name={config.loss.name!r} is not one of {sorted(losses.LOSSES)}.")
  for field in ("latent_dim", "base_width"):
    check(config.model[field] > 0, f"model.{field} must be positive.")
  check(config.model.compute_dtype in models.COMPUTE_DTYPES,
        f"model.compute_dtype={config.model.compute_dtype!r} must be one of "
        f"{sorted(models.COMPUTE_DTYPES)}.")
  check(0.0 <= config.model.bn_momentum < 1.0,
        "model.bn_momentum must be in [0, 1).")
  check(config.train.sample_every_steps > 0,
        "train.sample_every_steps must be positive.")
  for field in ("g_lr", "d_lr"):
    check(config.optim[field] > 0, f"optim.{field} must be positive.")
  for field in ("b1", "b2"):
    check(0 <= config.optim[field] < 1, f"optim.{field} must be in [0, 1).")
  check(config.ema.half_life_kimg >= 0, "ema.half_life_kimg must be >= 0.")
  check(config.ema.rampup >= 0, "ema.rampup must be >= 0.")
  check(config.train.n_critic >= 1, "train.n_critic must be >= 1.")
  check(config.model.num_classes >= 0, "model.num_classes must be >= 0.")
  check(config.model.num_classes == 0 or
        config.model.name in models.CONDITIONAL,
        f"model.num_classes > 0 needs a conditional model "
        f"({sorted(models.CONDITIONAL)}), not {config.model.name!r}.")
  check(config.loss.gp_weight >= 0 and config.loss.r1_gamma >= 0,
        "loss.gp_weight and loss.r1_gamma must be >= 0.")
  check(config.loss.r1_every >= 1, "loss.r1_every must be >= 1.")
  transforms = [t for t in config.augment.policy.split(",") if t]
  unknown = sorted(set(transforms) - set(augment.TRANSFORMS))
  check(not unknown, f"augment.policy has unknown transforms {unknown}; use "
        f"a comma-separated subset of {sorted(augment.TRANSFORMS)}.")
  check(0 <= config.augment.probability <= 1,
        "augment.probability must be in [0, 1].")
  check(0 <= config.augment.ada_target < 1,
        "augment.ada_target must be in [0, 1); 0 turns ADA off.")
  check(config.augment.ada_target == 0 or transforms,
        "augment.ada_target needs an augment.policy to adapt.")
  check(config.augment.ada_kimg > 0, "augment.ada_kimg must be positive.")
  check(config.eval.every_steps >= 0, "eval.every_steps must be >= 0 (0 = off).")
  check(config.eval.num_samples >= 4 and config.eval.num_real >= 4,
        "eval.num_samples and eval.num_real must be >= 4.")
  check(config.eval.batch_size > 0, "eval.batch_size must be positive.")
  kind = config.eval.extractor.partition(":")[0]
  check(kind in ("classifier", "inception_v3"),
        f"eval.extractor={config.eval.extractor!r} must be classifier, "
        "classifier:<workdir>, inception_v3 or inception_v3:<weights.npz>.")


def _validate_shared(config, num_devices: int, check) -> None:
  """Checks of the fields every task has: data, batch, cadence, W&B."""
  check(config.data.resolution in (28, 32, 64),
        f"data.resolution={config.data.resolution} must be 28, 32 or 64.")
  check(config.data.channels in (1, 3),
        f"data.channels={config.data.channels} must be 1 or 3.")
  check(config.data.resize_method in ("auto", "pad", "bilinear", "nearest"),
        f"data.resize_method={config.data.resize_method!r} must be auto, pad, "
        "bilinear or nearest.")
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
  check(config.wandb.mode in WANDB_MODES,
        f"wandb.mode={config.wandb.mode!r} must be one of {WANDB_MODES}.")


def to_dict(config: ml_collections.ConfigDict) -> dict[str, Any]:
  """The config as plain JSON-compatible data."""
  return json.loads(config.to_json_best_effort())


def from_dict(values: dict[str, Any]) -> ml_collections.ConfigDict:
  """Rebuilds a config written by `to_dict` (e.g. a workdir's config.json).

  Fields that a later version of cnnjax added (say, the `eval` section) get
  their defaults, so older workdirs stay readable.
  """
  defaults = (classifier_base_config() if values.get("task") == "classifier"
              else base_config())
  return ml_collections.ConfigDict(_merge(to_dict(defaults), values))


def _merge(defaults: dict[str, Any], values: dict[str, Any]) -> dict[str, Any]:
  merged = dict(defaults)
  for key, value in values.items():
    if isinstance(value, dict) and isinstance(defaults.get(key), dict):
      merged[key] = _merge(defaults[key], value)
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
    if old_flat.get(key, "<absent>") != new_flat.get(key, "<absent>"):
      lines.append(f"  {key}: {old_flat.get(key, '<absent>')!r} in the workdir, "
                   f"{new_flat.get(key, '<absent>')!r} now")
  return lines
