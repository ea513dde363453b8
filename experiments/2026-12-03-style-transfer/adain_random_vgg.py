"""How much of random VGG-19's spatial signal is the same for every image.

AdaIN normalises each channel of f(c) over the positions and gives it the
style's mean and spread, so what the decoder can learn of the content is
the normalised spatial pattern z = (f(c) − μ) / σ. This prints, per layer
and image size, the share of z's energy that is common to all images
(mean over images of z, squared, over the mean of z²): 0 when the pattern
is all content, 1 when it is a fixed map (zero padding seen through many
random convolutions, which no content changes). Images: 30 of the 128 px
photo tiles (every 9th), resized.

  python experiments/2026-12-03-style-transfer/adain_random_vgg.py
"""

import glob
import json

import numpy as np
from PIL import Image

from cnnjax.editing import adain
from cnnjax.nets import vgg

TILES = "runs/adain-demo/photos/*.png"


def common_share(features: np.ndarray) -> float:
  x = features.astype(np.float64)
  z = (x - x.mean((1, 2), keepdims=True)) / np.sqrt(
      x.var((1, 2), keepdims=True) + adain.EPS)
  return float((z.mean(0) ** 2).mean() / (z ** 2).mean())


def main() -> None:
  weights = vgg.random_weights("vgg19", 0)
  files = sorted(glob.glob(TILES))[::9][:30]
  for size in (64, 128, 256):
    images = np.stack([np.asarray(Image.open(f).convert("RGB").resize(
        (size, size), Image.BILINEAR)) for f in files])
    found = vgg.apply(weights, images.astype(np.float32) / 127.5 - 1,
                      adain.STYLE_LAYERS)
    print(json.dumps({"size": size, "images": len(files), **{
        layer: round(common_share(np.asarray(found[layer])), 3)
        for layer in adain.STYLE_LAYERS}}))


if __name__ == "__main__":
  main()
