"""AdaIN style transfer (cnnjax.tasks.adain): a decoder for VGG-19's relu4_1
features, trained so that AdaIN(content, style) decodes to the content in
the style (Huang & Belongie 2017); `cnnjax stylize --method adain` uses it.

Arguments (after the colon in --config=configs/adain.py:ARG), comma-
separated:
  content=DIR  content images: every PNG/JPEG under DIR (data.name =
               folder:DIR; a dataset name such as digits works too)
  style=DIR    style images, likewise (style_data.name)
  tiny         a seconds-long run on digits (repeated to RGB) at 32 px,
               random VGG weights, for tests
  and the variants every config takes: width= (the decoder's base width),
  steps=, batch=, seed=, res= (32, 64, 128 or 256)

The encoder: the converted VGG-19 at its default path when it exists
(`python -m cnnjax.nets.convert_vgg` writes it), else vgg19:random:0
(random weights); config.json records which, and
--config.model.vgg=vgg19:<file.npz> picks another.

  python -m cnnjax.data.skimage_demo demo --tile 128
  cnnjax train --config configs/adain.py:content=demo/photos,style=demo/textures \\
      --workdir runs/adain
  cnnjax stylize --method adain --workdir runs/adain --content photo.png \\
      --style texture.png --out out.png
"""

import os

from cnnjax import nets
from cnnjax.data import registry
from cnnjax.data.tfds_catalog import resolve_data_dir
from cnnjax.errors import UserError
from cnnjax.tasks.adain import config as adain

NAMED = ("content=", "style=")


def data_name(spec: str) -> str:
  """A dataset name (digits, folder:DIR, tfds:NAME) as is; a path as
  folder:<its absolute path>."""
  if spec.startswith((registry.FOLDER_PREFIX, registry.TFDS_PREFIX)) or (
      spec in registry.known_names()):
    return spec
  return registry.FOLDER_PREFIX + os.path.abspath(spec)


def default_vgg() -> str:
  """The converted VGG-19 if its file exists, else random weights."""
  spec = nets.resolve("vgg19", dataset="", data_dir=resolve_data_dir(None))
  return spec if os.path.isfile(spec.partition(":")[2]) else adain.RANDOM_VGG


def get_config(arg: str | None = None):
  parts = [p for p in (arg or "").split(",") if p]
  named = {p.partition("=")[0]: p.partition("=")[2] for p in parts
           if p.startswith(NAMED)}
  rest = ",".join(p for p in parts if not p.startswith(NAMED))
  if "tiny" not in parts and not (named.get("content") and
                                  named.get("style")):
    raise UserError("configs/adain.py needs content and style images: "
                    "--config=configs/adain.py:content=<folder>,style="
                    "<folder> (python -m cnnjax.data.skimage_demo DIR writes "
                    "scikit-image's photos and textures), or :tiny for a "
                    "test run.")
  config = adain.default_config()
  config.model.vgg = default_vgg()
  config = adain.apply_arg(config, rest)
  if named.get("content"):
    config.data.name = data_name(named["content"])
  if named.get("style"):
    config.style_data.name = data_name(named["style"])
  if "tiny" in parts and config.data.name == "digits":
    config.data.crop = "center"  # digits are square: nothing to place
    config.style_data.crop = "center"
  return config
