"""Writes scikit-image's bundled photographs and textures to a folder, as
offline demo data for `data.name = "folder:<OUT_DIR>"`.

  python -m cnnjax.data.skimage_demo OUT_DIR [--tile 128]

OUT_DIR/photos/ gets the photographs (color and gray, 448x172 to
1411x1411) and OUT_DIR/textures/ the three 512x512 gray textures, so the
folder has two classes. `--tile S` cuts every image into its whole S x S
tiles instead (a 512x512 texture gives 16 tiles of 128), for training
that wants many patches, e.g. style transfer or enhancement. Only images
shipped inside the scikit-image package are used: nothing is downloaded.
"""

import argparse
import os

import numpy as np
from PIL import Image

from cnnjax.utils import files

PHOTOS = ("astronaut", "camera", "chelsea", "coffee", "coins",
          "hubble_deep_field", "immunohistochemistry", "moon", "page",
          "retina", "rocket", "text")
TEXTURES = ("brick", "grass", "gravel")


def tiles(image: np.ndarray, size: int) -> list[np.ndarray]:
  """The whole size x size tiles of an image, row-major (the rest is
  dropped)."""
  rows, cols = image.shape[0] // size, image.shape[1] // size
  return [image[r * size:(r + 1) * size, c * size:(c + 1) * size]
          for r in range(rows) for c in range(cols)]


def export(out_dir: str, tile: int = 0) -> list[str]:
  """Writes the PNGs (overwriting files of the same name); returns their
  paths."""
  import skimage.data  # only here: a slow import the package never needs
  written = []
  for group, names in (("photos", PHOTOS), ("textures", TEXTURES)):
    os.makedirs(os.path.join(out_dir, group), exist_ok=True)
    for name in names:
      image = np.asarray(getattr(skimage.data, name)())  # uint8, all of them
      parts = tiles(image, tile) if tile else [image]
      for index, part in enumerate(parts):
        suffix = f"_{index:03d}" if tile else ""
        path = os.path.join(out_dir, group, f"{name}{suffix}.png")
        with files.atomic_write(path, "wb") as f:
          Image.fromarray(part).save(f, format="PNG")
        written.append(path)
  return written


def main(argv: list[str] | None = None) -> None:
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  parser.add_argument("out_dir")
  parser.add_argument("--tile", type=int, default=0,
                      help="cut into whole TILE x TILE tiles (0: whole images)")
  args = parser.parse_args(argv)
  if args.tile < 0:
    parser.error("--tile must be >= 0")
  written = export(args.out_dir, args.tile)
  print(f"Wrote {len(written)} images to {args.out_dir}; train on them with "
        f"--config.data.name=folder:{os.path.abspath(args.out_dir)}")


if __name__ == "__main__":
  main()
