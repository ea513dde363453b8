"""The figures of adain.md from run_adain.sh's images: the content x style
table, the alpha sweep, the style interpolation and colour preservation,
each one PNG of cells 160 px high (the inputs first).

  python experiments/2026-12-03-style-transfer/adain_figures.py OUT_DIR
"""

import os
import sys

import numpy as np
from PIL import Image

PHOTOS = "runs/adain-demo-full/photos"
TEXTURES = "runs/adain-demo-full/textures"
CONTENTS = ("astronaut", "chelsea", "coffee", "rocket")
STYLES = ("brick", "grass", "gravel", "astronaut", "chelsea", "coffee",
          "rocket")
HEIGHT, WIDTH, GAP = 160, 200, 4


def source(name: str) -> str:
  folder = TEXTURES if name in ("brick", "grass", "gravel") else PHOTOS
  return os.path.join(folder, f"{name}.png")


def cell(path: str | None) -> np.ndarray:
  """The image at `path` fitted into HEIGHT x WIDTH on white (None: blank)."""
  canvas = np.full((HEIGHT, WIDTH, 3), 255, np.uint8)
  if path is None:
    return canvas
  picture = Image.open(path).convert("RGB")
  scale = min(HEIGHT / picture.height, WIDTH / picture.width)
  picture = picture.resize((max(round(picture.width * scale), 1),
                            max(round(picture.height * scale), 1)),
                           Image.LANCZOS)
  top = (HEIGHT - picture.height) // 2
  left = (WIDTH - picture.width) // 2
  canvas[top:top + picture.height, left:left + picture.width] = picture
  return canvas


def table(rows: list[list[str | None]], path: str) -> None:
  count = max(len(row) for row in rows)
  out = np.full((len(rows) * (HEIGHT + GAP) + GAP,
                 count * (WIDTH + GAP) + GAP, 3), 255, np.uint8)
  for r, row in enumerate(rows):
    for c, item in enumerate(row):
      top, left = GAP + r * (HEIGHT + GAP), GAP + c * (WIDTH + GAP)
      out[top:top + HEIGHT, left:left + WIDTH] = cell(item)
  Image.fromarray(out).save(path)


def main(out: str) -> None:
  images = os.path.join(out, "images")
  grid = [[None] + [source(s) for s in STYLES]]
  for content in CONTENTS:
    grid.append([source(content)] + [
        None if content == s else os.path.join(images, f"{content}-{s}.png")
        for s in STYLES])
  table(grid, os.path.join(out, "table.png"))
  table([[source("chelsea"), source("coffee")] +
         [os.path.join(images, f"alpha-{a}.png")
          for a in ("0", "0.25", "0.5", "0.75", "1")]],
        os.path.join(out, "alpha.png"))
  table([[source("astronaut"), source("gravel"), source("coffee")] +
         [os.path.join(images, f"mix-{w}.png")
          for w in ("1,0", "0.75,0.25", "0.5,0.5", "0.25,0.75", "0,1")]],
        os.path.join(out, "interpolation.png"))
  table([[source("rocket"), source("chelsea"),
          os.path.join(images, "rocket-chelsea.png"),
          os.path.join(images, "rocket-chelsea-preserve.png")]],
        os.path.join(out, "preserve_color.png"))
  print(f"Wrote {out}/table.png, alpha.png, interpolation.png, "
        "preserve_color.png")


if __name__ == "__main__":
  main(sys.argv[1])
