"""The GAN task's config: its sections, defaults (the canonical DCGAN) and
validation. Config files start from `default_config()`; importing this
module loads no training machinery.

  model.generator / model.discriminator   {name, **the family's fields}
                                          (cnnjax.models)
  model.num_classes     > 0: class-conditional G and D
  model.compute_dtype   float32, or bfloat16 (parameters, optimizer, EMA,
                        batch statistics and losses stay float32)
  loss, optim, ema, augment, eval         see the comments below
  train.n_critic, train.sample_every_steps
"""

import ml_collections

from cnnjax import config as config_lib
from cnnjax import models

# What "tiny" sets on top of the shared tiny fields; a family may add more.
TINY = {"model.generator.latent_dim": 16, "model.generator.base_width": 8,
        "model.discriminator.base_width": 8, "train.sample_every_steps": 10,
        "eval.num_samples": 128, "eval.num_real": 128, "eval.batch_size": 64}


def default_config() -> ml_collections.ConfigDict:
  """Every field a GAN run has, with the defaults of the canonical DCGAN."""
  config = config_lib.shared_config("gan")
  config.model = ml_collections.ConfigDict()
  config.model.generator = models.network_config(
      "generator", "dcgan", latent_dim=100, base_width=64)
  config.model.discriminator = models.network_config(
      "discriminator", "dcgan", base_width=64)
  config.model.num_classes = 0  # > 0: class-conditional G and D
  # What G and D compute in: "float32", or "bfloat16" (parameters, optimizer,
  # EMA, batch statistics and losses stay float32; for GPUs and TPUs).
  config.model.compute_dtype = "float32"

  config.loss = ml_collections.ConfigDict()
  config.loss.name = "non_saturating"  # a name in cnnjax.losses.LOSSES
  config.loss.gp_weight = 0.0  # WGAN-GP's lambda (10 in the paper); 0 = off
  config.loss.r1_gamma = 0.0  # R1 weight gamma; 0 = off
  # Lazy R1: a regularisation phase of its own every k D steps.
  config.loss.r1_every = 16
  # Path length regularisation (StyleGAN2; generators with a W space): the
  # weight (2 in the paper; 0 = off), every k G steps, on batch / shrink
  # latents, and the decay of its running mean of path lengths.
  config.loss.pl_weight = 0.0
  config.loss.pl_every = 4
  config.loss.pl_batch_shrink = 2
  config.loss.pl_decay = 0.01

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
  # Truncation psi of the evaluated generator (StyleGAN2's W space; 1 = none).
  config.eval.truncation = 1.0
  # Every N steps: FID, KID, precision/recall, IS (and class accuracy) into
  # metrics.jsonl and W&B, and a best checkpoint by FID; 0 = off.
  config.eval.every_steps = 0
  # A name in cnnjax.nets: "classifier" (the reference classifier cnnjax
  # ships for fashion_mnist and digits, else the run at <data
  # dir>/cnnjax_classifiers/<dataset>), "classifier:<workdir or file.npz>",
  # "inception_v3" or "inception_v3:<weights.npz>".
  config.eval.extractor = "classifier"
  config.eval.num_samples = 10000  # generated images per evaluation
  config.eval.num_real = 10000  # reference images (a fixed subset of split)
  config.eval.split = "train"
  config.eval.batch_size = 500  # rounded up to a multiple of the devices
  config.eval.seed = 0  # of the evaluation latents (the same at every step)

  config.train.n_critic = 1  # discriminator updates per generator update
  config.train.sample_every_steps = 500
  return config


def apply_arg(config: ml_collections.ConfigDict, arg: str | None,
              **tiny) -> ml_collections.ConfigDict:
  """A config file's argument (dataset, "tiny"); `tiny` are a family's own
  dotted fields for the tiny variant, e.g. `**{"train.n_critic": 2}`."""
  fields = {**TINY, **tiny}
  # Families without a base_width (StyleGAN2's channel_base) skip it.
  fields = {k: v for k, v in fields.items()
            if not k.endswith(".base_width") or
            "base_width" in config_lib.get_field(config, k.rsplit(".", 1)[0])}
  return config_lib.apply_arg(config, arg, fields)


def validate(config: ml_collections.ConfigDict) -> None:
  """The GAN sections' values that types alone cannot check."""
  # Imported here: the registries import model and loss code, which config
  # files (importing this module) do not need.
  from cnnjax import augment, losses
  check = config_lib.check
  num_classes = config.model.num_classes
  check(num_classes >= 0, "model.num_classes must be >= 0.")
  for role in ("generator", "discriminator"):
    models.check(role, config.model[role], resolution=config.data.resolution,
                 num_classes=num_classes)
  check(config.model.compute_dtype in models.COMPUTE_DTYPES,
        f"model.compute_dtype={config.model.compute_dtype!r} must be one of "
        f"{sorted(models.COMPUTE_DTYPES)}.")
  check(config.loss.name in losses.LOSSES,
        f"loss.name={config.loss.name!r} is not one of {sorted(losses.LOSSES)}.")
  check(config.train.sample_every_steps > 0,
        "train.sample_every_steps must be positive.")
  for field in ("g_lr", "d_lr"):
    check(config.optim[field] > 0, f"optim.{field} must be positive.")
  for field in ("b1", "b2"):
    check(0 <= config.optim[field] < 1, f"optim.{field} must be in [0, 1).")
  check(config.ema.half_life_kimg >= 0, "ema.half_life_kimg must be >= 0.")
  check(config.ema.rampup >= 0, "ema.rampup must be >= 0.")
  check(config.train.n_critic >= 1, "train.n_critic must be >= 1.")
  check(config.loss.gp_weight >= 0 and config.loss.r1_gamma >= 0,
        "loss.gp_weight and loss.r1_gamma must be >= 0.")
  check(config.loss.r1_every >= 1, "loss.r1_every must be >= 1.")
  check(config.loss.pl_weight >= 0, "loss.pl_weight must be >= 0 (0 = off).")
  check(config.loss.pl_every >= 1 and config.loss.pl_batch_shrink >= 1,
        "loss.pl_every and loss.pl_batch_shrink must be >= 1.")
  check(0 < config.loss.pl_decay <= 1, "loss.pl_decay must be in (0, 1].")
  if config.loss.pl_weight > 0:
    generator = models.family("generator", config.model.generator.name)
    check(hasattr(generator, "synthesis"),
          f"loss.pl_weight > 0 needs a generator with a W space "
          f"(stylegan2), not {config.model.generator.name!r}; set "
          "--config.loss.pl_weight=0.")
  check(config.eval.truncation == 1.0 or hasattr(
      models.family("generator", config.model.generator.name), "synthesis"),
        "eval.truncation needs a generator with a W space (stylegan2).")
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
