"""Writes the experiment's photographs, split by photo, to OUT_DIR:

  OUT_DIR/test/   the held-out photos, whole: scikit-image's astronaut,
                  coffee, chelsea and rocket
  OUT_DIR/train/  random square crops (sides from a quarter of the photo's
                  shorter side to all of it, half of them mirrored), each
                  resized to 128 px, of every other photo shipped with
                  scikit-image or scikit-learn: COLOR_CROPS of each colour
                  photo, GRAY_CROPS of each gray photo and texture
  OUT_DIR/val/    for choosing the length of training: scikit-learn's china
                  and flower, whole
  OUT_DIR/train-val/  train/ without the crops of val/'s photos

  python experiments/2026-12-03-enhance/export_photos.py OUT_DIR

Nothing is downloaded; the crops are a pure function of SEED.
"""

import os
import sys

import numpy as np
from PIL import Image

TEST = ("astronaut", "coffee", "chelsea", "rocket")
COLOR = ("hubble_deep_field", "immunohistochemistry", "retina",
         "motorcycle_left", "motorcycle_right", "china", "flower")
GRAY = ("camera", "coins", "moon", "clock", "brick", "grass", "gravel")
VALIDATION = ("china", "flower")
COLOR_CROPS, GRAY_CROPS, CROP_SIZE, SEED = 96, 32, 128, 0


def photo(name: str) -> np.ndarray:
  import skimage.data
  from sklearn.datasets import load_sample_image
  if name in ("china", "flower"):
    return load_sample_image(f"{name}.jpg")
  if name.startswith("motorcycle_"):
    left, right, _ = skimage.data.stereo_motorcycle()
    return left if name.endswith("left") else right
  return np.asarray(getattr(skimage.data, name)())


def crops(image: np.ndarray, count: int, rng) -> list[np.ndarray]:
  height, width = image.shape[:2]
  shorter = min(height, width)
  found = []
  for _ in range(count):
    side = int(rng.integers(shorter // 4, shorter + 1))
    top = int(rng.integers(0, height - side + 1))
    left = int(rng.integers(0, width - side + 1))
    crop = Image.fromarray(image[top:top + side, left:left + side])
    crop = crop.resize((CROP_SIZE, CROP_SIZE), Image.BILINEAR)
    if rng.random() < 0.5:
      crop = crop.transpose(Image.FLIP_LEFT_RIGHT)
    found.append(np.asarray(crop))
  return found


def main(out_dir: str) -> None:
  rng = np.random.default_rng(SEED)
  for folder in ("test", "val", "train", "train-val"):
    os.makedirs(os.path.join(out_dir, folder), exist_ok=True)
  for folder, names in (("test", TEST), ("val", VALIDATION)):
    for name in names:
      Image.fromarray(photo(name)).save(os.path.join(out_dir, folder,
                                                     f"{name}.png"))
  count = 0
  for names, per_photo in ((COLOR, COLOR_CROPS), (GRAY, GRAY_CROPS)):
    for name in names:
      for index, crop in enumerate(crops(photo(name), per_photo, rng)):
        folders = ["train"] + ([] if name in VALIDATION else ["train-val"])
        for folder in folders:
          Image.fromarray(crop).save(os.path.join(
              out_dir, folder, f"{name}_{index:03d}.png"))
        count += 1
  print(f"Wrote {len(TEST)} held-out photos, {len(VALIDATION)} validation "
        f"photos and {count} training crops to {out_dir}")


if __name__ == "__main__":
  main(sys.argv[1])
