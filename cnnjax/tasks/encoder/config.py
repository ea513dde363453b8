"""The encoder task's config: an encoder trained to invert a frozen
generator, which a warm start loads from a GAN run (`init_from`).

  model.generator, model.num_classes, model.compute_dtype
                  the GAN run's, copied by configs/encoder.py:gan=RUN so
                  that its checkpoint fits
  model.encoder   {name, **the family's fields} (cnnjax.models.encoder);
                  its latent_dim is the length of a latent in model.space
  model.space     the latent space it maps to: z, or a StyleGAN2's w or
                  w+ (cnnjax.editing.spaces)
  loss            weights of the terms of the objective (see task.py)
  eval            held-out reconstruction metrics (cnnjax.editing.quality)

Importing this module loads no training machinery.
"""

import ml_collections

from cnnjax import config as config_lib
from cnnjax import models

# The generator's fields come from the GAN run, tiny or not.
TINY = {"model.encoder.base_width": 8,
        "train.sample_every_steps": 10, "eval.num_images": 32,
        "eval.num_real": 128, "eval.batch_size": 32}


def default_config() -> ml_collections.ConfigDict:
  """Every field an encoder run has (a DCGAN's generator by default)."""
  config = config_lib.shared_config("encoder")
  config.model = ml_collections.ConfigDict()
  config.model.generator = models.network_config(
      "generator", "dcgan", latent_dim=100, base_width=64)
  config.model.encoder = models.network_config(
      "encoder", "dcgan", latent_dim=100, base_width=64)
  config.model.num_classes = 0
  config.model.compute_dtype = "float32"
  config.model.space = "z"  # z, w, w+ (w and w+: StyleGAN2 generators)

  config.loss = ml_collections.ConfigDict()
  # Generated pairs z -> G(z) -> E: the code (pSp's and e4e's "latent"
  # cycle) and the image it regenerates.
  config.loss.latent_weight = 1.0
  config.loss.generated_pixel_weight = 1.0
  # Real images x -> E -> G: pixels (L2) and a perceptual distance on the
  # feature network's layers (cnnjax.editing.perceptual).
  config.loss.pixel_weight = 1.0
  config.loss.perceptual_weight = 1.0
  config.loss.perceptual_net = "classifier"  # a cnnjax.nets spec
  config.loss.perceptual_layers = ""  # "" = the network's default layers
  # e4e-style regulariser keeping real images' codes near the prior, so
  # codes stay where the generator was trained and edits behave: in z the
  # squared gap between ||z||^2 / d and 1 (N(0, I)'s typical shell); in w+
  # e4e's distance of each layer's w from the first's; none in w.
  config.loss.prior_weight = 0.1

  config.optim = config_lib.adam_config(lr=1e-3)

  config.eval = ml_collections.ConfigDict()
  config.eval.split = "test"  # held-out images: the first num_images
  config.eval.num_images = 1000
  config.eval.num_real = 10000  # reference statistics for FID
  config.eval.extractor = "classifier"
  config.eval.batch_size = 250
  config.eval.every_steps = 0  # 0 = off; `cnnjax eval` measures a checkpoint

  config.train.batch_size = 64
  config.train.num_steps = 3000
  config.train.sample_every_steps = 500
  return config


def apply_arg(config: ml_collections.ConfigDict,
              arg: str | None) -> ml_collections.ConfigDict:
  return config_lib.apply_arg(config, arg, TINY)


def validate(config: ml_collections.ConfigDict) -> None:
  check = config_lib.check
  models.check("generator", config.model.generator,
               resolution=config.data.resolution,
               num_classes=config.model.num_classes)
  models.check("encoder", config.model.encoder,
               resolution=config.data.resolution, num_classes=0)
  from cnnjax.editing import generator as generator_lib
  from cnnjax.editing import spaces
  name, generator = config.model.space, config.model.generator.name
  check(name in spaces.available(generator),
        f"model.space={name!r}: the {generator!r} generator has "
        f"{', '.join(spaces.available(generator))}.")
  space = generator_lib.make_space(config_lib.to_dict(config), name)
  check(config.model.encoder.latent_dim == space.size,
        f"model.encoder.latent_dim={config.model.encoder.latent_dim} must be "
        f"the length of a latent in {space.name} ({space.size}).")
  check(bool(config.init_from.workdir),
        "an encoder inverts a trained generator: set init_from.workdir to a "
        "GAN run (configs/encoder.py:gan=RUN does, with init_from.subtree).")
  check(config.init_from.subtree.split(",")[0].split(":")[-1].startswith(
      "generator"), "init_from.subtree must load the generator, e.g. "
        "'generator' or 'generator,ema_params:generator.params'.")
  for name in ("latent_weight", "generated_pixel_weight", "pixel_weight",
               "perceptual_weight", "prior_weight"):
    check(config.loss[name] >= 0, f"loss.{name} must be >= 0.")
  config_lib.check_adam(config.optim)
  check(config.eval.num_images >= 4, "eval.num_images must be >= 4.")
  check(config.eval.every_steps >= 0, "eval.every_steps must be >= 0.")
  check(config.train.sample_every_steps > 0,
        "train.sample_every_steps must be positive.")
