"""cnnjax's VGG-19 / VGG-16 port against torchvision's own, end to end.

torchvision's weights cannot be downloaded here, so this checks everything
but their values: torchvision's `vgg19()` / `vgg16()` get seeded random
weights (torch.manual_seed, torchvision's own init), rescaled layer by layer
on real photographs with random biases added (torchvision's init has zero
biases, which would leave the bias path untested, and its activations
change scale from layer to layer, which would make late layers' errors
meaningless), the state dict is saved as a .pth exactly like the released
file, converted with cnnjax's documented command, loaded by cnnjax, and both
networks see the same images:

  - every named layer of the convolutional part (conv, relu, pool), image
    by image: max |cnnjax - torchvision| / max |torchvision|;
  - torchvision's max pooling, and 2x2 average pooling (torchvision's
    pooling modules swapped for nn.AvgPool2d(2, 2); cnnjax's pool="avg");
  - crops of scikit-image's photographs: 224x224 RGB, 256x320 RGB, an odd
    227x239 RGB (pooling floors odd sizes), and 224x224 grayscale (repeated
    to RGB by cnnjax, by hand for torchvision).

It also reports the mean activation of every ReLU of cnnjax's random-weight
VGG-19 (`vgg19:random`) on the same photographs.

Run with a Python that has torch, torchvision and cnnjax (see README.md):
  python experiments/2026-12-03-vgg-port/compare.py [--seed 0]
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import jax
import numpy as np
import torch
import torchvision
from skimage import data

from cnnjax import nets
from cnnjax.nets import vgg as cnnjax_vgg

HERE = os.path.dirname(os.path.abspath(__file__))


def image_sets() -> dict[str, np.ndarray]:
  """uint8 NHWC crops of scikit-image's bundled photographs."""
  astronaut, coffee, chelsea = data.astronaut(), data.coffee(), data.chelsea()
  return {
      "224x224 RGB": np.stack([astronaut[::2, ::2][16:240, 16:240],
                               coffee[100:324, 200:424],
                               chelsea[40:264, 100:324]]),
      "256x320 RGB": np.stack([astronaut[100:356, 80:400],
                               coffee[50:306, 150:470],
                               chelsea[20:276, 60:380]]),
      "227x239 RGB": np.stack([astronaut[200:427, 150:389]]),
      "224x224 gray": np.stack([data.camera()[::2, ::2][20:244, 20:244],
                                data.moon()[150:374, 150:374]])[..., None],
  }


def torch_network(arch: str, seed: int, calibration: torch.Tensor):
  """torchvision's network with seeded weights, every conv rescaled so its
  pre-activation has unit std on the calibration images, then given random
  biases N(0, 0.2^2) (drawn from a generator seeded with seed + 1)."""
  torch.manual_seed(seed)
  model = getattr(torchvision.models, arch)(weights=None).eval()
  generator = torch.Generator().manual_seed(seed + 1)
  x = normalise_torch(calibration)
  with torch.no_grad():
    for module in model.features:
      if isinstance(module, torch.nn.ReLU):
        module.inplace = False  # the conv outputs are compared too
      if isinstance(module, torch.nn.Conv2d):
        module.weight /= module(x).std()
        module.bias.normal_(0.0, 0.2, generator=generator)
      x = module(x)
  return model


def normalise_torch(images01: torch.Tensor) -> torch.Tensor:
  mean = torch.tensor(cnnjax_vgg.IMAGENET_MEAN).view(1, 3, 1, 1)
  std = torch.tensor(cnnjax_vgg.IMAGENET_STD).view(1, 3, 1, 1)
  return (images01 - mean) / std


def torch_layers(model, arch: str, images: np.ndarray, pool: str):
  """{layer: NHWC float64} of every named layer, one image at a time."""
  names = cnnjax_vgg.LAYERS[arch]
  x = torch.from_numpy(images.transpose(0, 3, 1, 2).astype(np.float32) / 255)
  if x.shape[1] == 1:
    x = x.repeat(1, 3, 1, 1)
  x = normalise_torch(x)
  outputs = {}
  with torch.no_grad():
    for name, module in zip(names, model.features):
      if isinstance(module, torch.nn.MaxPool2d) and pool == "avg":
        module = torch.nn.AvgPool2d(2, 2)
      x = module(x)
      outputs[name] = x.numpy().transpose(0, 2, 3, 1).astype(np.float64)
  return outputs


def relative_error(a: np.ndarray, b: np.ndarray) -> float:
  return float(np.abs(a - b).max() / np.abs(b).max())


def convert(model, tmp: str, arch: str) -> str:
  """The .pth -> .npz conversion the README documents, run as a user runs
  it; returns the .npz path."""
  pth, npz = os.path.join(tmp, f"{arch}.pth"), os.path.join(tmp, f"{arch}.npz")
  torch.save(model.state_dict(), pth)
  subprocess.run([sys.executable, "-m", "cnnjax.nets.convert_vgg",
                  "--torch_file", pth, "--out", npz], check=True)
  return npz


def main() -> int:
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--seed", type=int, default=0)
  parser.add_argument("--out", default=os.path.join(HERE, "results.jsonl"))
  args = parser.parse_args()
  torch.set_num_threads(2)
  sets = image_sets()
  calibration = torch.from_numpy(
      sets["224x224 RGB"].transpose(0, 3, 1, 2) / 255.0).float()
  rows = []
  forward = jax.jit(cnnjax_vgg.apply, static_argnames=("layers", "pool"))
  with tempfile.TemporaryDirectory() as tmp:
    for arch in ("vgg19", "vgg16"):
      model = torch_network(arch, args.seed, calibration)
      net = nets.load(f"{arch}:{convert(model, tmp, arch)}", dataset="",
                      data_dir=tmp)
      for pool in ("max", "avg"):
        for set_name, images in sets.items():
          for index in range(len(images)):
            image = images[index:index + 1]
            start = time.perf_counter()
            expected = torch_layers(model, arch, image, pool)
            torch_s = time.perf_counter() - start
            start = time.perf_counter()
            actual = jax.device_get(forward(
                net.weights, image.astype(np.float32) / 127.5 - 1,
                layers=net.layers, pool=pool))
            cnnjax_s = time.perf_counter() - start
            row = {"arch": arch, "pool": pool, "set": set_name,
                   "image": index, "input": list(image.shape[1:]),
                   "max_rel_error": {
                       name: relative_error(actual[name], expected[name])
                       for name in net.layers},
                   "max_abs_activation": {
                       name: float(np.abs(expected[name]).max())
                       for name in net.layers},
                   "torch_s": round(torch_s, 2),
                   "cnnjax_s": round(cnnjax_s, 2)}
            rows.append(row)
            worst = max(row["max_rel_error"].items(), key=lambda kv: kv[1])
            print(json.dumps({k: row[k] for k in
                              ("arch", "pool", "set", "image", "torch_s",
                               "cnnjax_s")} | {"worst": worst}), flush=True)

  # cnnjax's random-weight VGG-19 on the same photographs: mean activation
  # of every ReLU (He, Wang & Hopcroft 2016: layers of comparable scale).
  random_net = nets.load("vgg19:random", dataset="", data_dir="")
  relus = tuple(n for n in random_net.layers if n.startswith("relu"))
  photos = np.concatenate([sets["224x224 RGB"],
                           np.repeat(sets["224x224 gray"], 3, -1)])
  for pool in ("max", "avg"):
    outputs = forward(random_net.weights, photos.astype(np.float32) / 127.5 - 1,
                      layers=relus, pool=pool)
    rows.append({"random_network": random_net.name, "pool": pool,
                 "images": len(photos), "digest": random_net.digest[:16],
                 "mean_activation": {n: float(outputs[n].mean())
                                     for n in relus}})
    print(json.dumps(rows[-1]), flush=True)

  with open(args.out, "w") as f:
    f.write(json.dumps({"seed": args.seed, "torch": torch.__version__,
                        "torchvision": torchvision.__version__,
                        "jax": jax.__version__}) + "\n")
    for row in rows:
      f.write(json.dumps(row) + "\n")
  print(f"Wrote {args.out}")
  return 0


if __name__ == "__main__":
  sys.exit(main())
