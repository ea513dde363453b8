"""The write-up's picture: the evaluation's first ROWS degraded images
(each held-out photo twice; centre squares at SIZE px), in the columns

  degraded | equalize_adapthist | rescale_intensity | per channel |
  enhanced (the learned model) | original

and a JSON line per row with each column's PSNR to the original. With
DEGRADED_DIR, also writes the four degraded photos at their own size there
(for `cnnjax enhance`).

  python experiments/2026-12-03-enhance/figure.py RUN STEP OUT.jpg [DEGRADED_DIR]
"""

import json
import os
import sys

import numpy as np
from PIL import Image

from cnnjax import tasks
from cnnjax import workdir as workdir_lib
from cnnjax.editing import enhance
from cnnjax.metrics import reconstruction
from cnnjax.tasks.enhance import evaluate
from cnnjax.utils import images

SIZE, ROWS = 192, 8


def main(workdir: str, step: str, out: str, degraded_dir: str = "") -> None:
  config = tasks.config_from_dict(workdir_lib.read_config(workdir))
  enhancer = enhance.load(workdir, int(step))
  held_out = evaluate.HeldOut(config, ROWS, SIZE)
  columns = []
  for degraded, original in zip(held_out.degraded, held_out.originals):
    degraded01 = degraded / 255.0
    row = {"degraded": degraded01,
           **{name: baseline(degraded01)
              for name, baseline in enhance.BASELINES.items()},
           "enhanced": enhancer(degraded, to_uint8=False)[0],
           "original": original / 255.0}
    target = (original / 255.0)[None].astype(np.float32)
    print(json.dumps({name: round(float(reconstruction.psnr(
        np.asarray(image, np.float32)[None], target, 1.0)[0]), 2)
        for name, image in row.items() if name != "original"}))
    columns.append(list(row.values()))
  grid = np.stack([image for row in columns for image in row])
  picture = Image.fromarray(images.make_grid(
      grid.astype(np.float32) * 2.0 - 1.0, rows=len(columns)))
  picture.save(out, quality=90)  # a JPEG: photographs, 1/4 of the PNG
  print(f"Wrote {out}")
  if degraded_dir:
    os.makedirs(degraded_dir, exist_ok=True)
    native = evaluate.HeldOut(config, 4, 0)
    for index, image in enumerate(native.degraded):
      Image.fromarray(image).save(os.path.join(degraded_dir,
                                               f"degraded_{index}.png"))


if __name__ == "__main__":
  main(*sys.argv[1:])
