"""Automatic colour and contrast (cnnjax.tasks.enhance): a small CNN that
predicts global adjustments (exposure, white balance, contrast, saturation,
a tone curve) from a downscaled photo, trained to undo random degradations.

Arguments (after the colon in --config=configs/enhance.py:ARG), comma-
separated:
  folder=DIR   the training photographs: every PNG/JPEG under DIR
               (data.name = folder:DIR), as random square crops
  test=DIR     held-out photographs in a folder of their own (eval.dataset
               = folder:DIR, all of it); without it, DIR's own 'test' split
               (the ~10% of files a hash of their paths picks) is held out
               and training reads its 'train' split
  tiny         a seconds-long run on digits (repeated to RGB), for tests
  and the variants every config takes: width=, steps=, batch=, seed=, res=

  python -m cnnjax.data.skimage_demo photos   # or any folder of photos
  cnnjax train --config configs/enhance.py:folder=photos --workdir runs/enhance
  cnnjax enhance --workdir runs/enhance --in dark.jpg --out fixed.jpg
"""

import os

from cnnjax.errors import UserError
from cnnjax.tasks.enhance import config as enhance


def get_config(arg: str | None = None):
  parts = [p for p in (arg or "").split(",") if p]
  named = {p.partition("=")[0]: p.partition("=")[2] for p in parts
           if p.startswith(("folder=", "test="))}
  rest = ",".join(p for p in parts if not p.startswith(("folder=", "test=")))
  if not named.get("folder") and "tiny" not in parts:
    raise UserError("configs/enhance.py needs training photographs: "
                    "--config=configs/enhance.py:folder=<folder of PNG/JPEG "
                    "photos> (python -m cnnjax.data.skimage_demo DIR writes "
                    "scikit-image's), or :tiny for a test run.")
  config = enhance.default_config()
  if named.get("folder"):
    config.data.name = "folder:" + os.path.abspath(named["folder"])
  if named.get("test"):
    config.data.split = "all"
    config.eval.dataset = "folder:" + os.path.abspath(named["test"])
    config.eval.split = "all"
  config = enhance.apply_arg(config, rest)
  if "tiny" in parts:
    config.data.crop = "center"  # digits are square: nothing to place
  return config
