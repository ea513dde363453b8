"""An encoder for a trained GAN run (cnnjax.tasks.encoder).

Arguments (after the colon in --config=configs/encoder.py:ARG), comma-
separated:
  gan=RUN      the GAN run's workdir (required): its data section,
               generator, num_classes and compute dtype are copied, and its
               generator (with its EMA params, where it keeps an EMA) is
               loaded by warm start
  resnet       a residual encoder instead of the DCGAN-like one
  space=S      the latent space it maps to: z, or for a StyleGAN2 run w
               (its default) or w+ (pSp/e4e's); codes are offsets from
               w_avg there
  tiny         a seconds-long run, for tests (the GAN run must be tiny too)
  and the variants every config takes: width=, steps=, batch=, seed=

  cnnjax train --config configs/encoder.py:gan=runs/quickstart \\
      --workdir runs/quickstart-encoder
"""

import os

from cnnjax import models
from cnnjax import workdir as workdir_lib
from cnnjax.editing import generator as generator_lib
from cnnjax.editing import spaces
from cnnjax.errors import UserError
from cnnjax.tasks.encoder import config as encoder


def get_config(arg: str | None = None):
  parts = [p for p in (arg or "").split(",") if p]
  gan = [p.partition("=")[2] for p in parts if p.startswith("gan=")]
  if not gan or not gan[0]:
    raise UserError("configs/encoder.py needs the GAN run to invert: "
                    "--config=configs/encoder.py:gan=<GAN workdir>.")
  family = "resnet" if "resnet" in parts else "dcgan"
  space = [p.partition("=")[2] for p in parts if p.startswith("space=")]
  rest = ",".join(p for p in parts if not p.startswith(("gan=", "space="))
                  and p != "resnet")
  values = workdir_lib.read_config(gan[0])
  if values.get("task") != "gan":
    raise UserError(f"{gan[0]} holds a {values.get('task')} run; "
                    "configs/encoder.py:gan=RUN needs a GAN run.")

  config = encoder.default_config()
  for field in ("name", "split", "data_dir", "resolution", "channels",
                "resize_method"):
    config.data[field] = values["data"][field]
  config.model.generator = values["model"]["generator"]
  config.model.num_classes = values["model"]["num_classes"]
  config.model.compute_dtype = values["model"]["compute_dtype"]
  generator = values["model"]["generator"]
  name = space[0] if space else spaces.default(generator["name"])
  spaces.check(name, generator["name"], "configs/encoder.py:space")
  config.model.space = name
  config.model.encoder = models.network_config(
      "encoder", family, latent_dim=generator_lib.make_space(
          values, name).size, base_width=64)
  config.init_from.workdir = os.path.abspath(gan[0])
  has_ema = values.get("ema", {}).get("half_life_kimg", 0) > 0
  config.init_from.subtree = ("generator,ema_params:generator.params"
                              if has_ema else "generator")
  config = encoder.apply_arg(config, rest)
  if "tiny" in parts:  # the GAN run's data, not tiny's default dataset
    config.data.name = values["data"]["name"]
  return config
