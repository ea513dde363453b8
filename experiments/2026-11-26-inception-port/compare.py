"""cnnjax's Inception port against pytorch-fid itself, end to end.

The real FID weights cannot be downloaded here, so this checks everything
but their values: pytorch-fid's own network (pytorch_fid.inception, on
torchvision's Inception3) gets seeded random weights, its batch-norm
statistics are calibrated on real photographs (so activations have the
scale a trained network's have, instead of vanishing through 90 layers),
the state dict is saved as a .pth exactly like the released file, converted
with cnnjax's documented command, loaded by cnnjax, and both networks embed
the same images:

  - pool3 features and fc logits, image by image;
  - FID between two image sets, each side with its own features;
  - three input paths: small images upsampled to 299 (the GAN case), large
    ones downsampled to 299 (bilinear without antialiasing, as pytorch-fid),
    and grayscale (replicated to RGB by cnnjax, by hand for PyTorch).

Run with a Python that has torch, pytorch-fid and cnnjax (see README.md):
  python experiments/2026-11-26-inception-port/compare.py [--seed 0]
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np
import torch
import torch.library

# PyPI's torchvision wheels are CUDA builds whose compiled ops do not load
# next to the CPU-only torch here; pytorch-fid needs none of them (only the
# Python Inception3), so their fake-tensor registrations are skipped.
_register_fake = torch.library.register_fake
torch.library.register_fake = (
    lambda op, *a, **k: (lambda f: f) if str(op).startswith("torchvision::")
    else _register_fake(op, *a, **k))

import pytorch_fid.inception as pf  # noqa: E402
from pytorch_fid.fid_score import calculate_frechet_distance  # noqa: E402
from skimage import data  # noqa: E402

from cnnjax.metrics import fid as cnnjax_fid  # noqa: E402
from cnnjax.nets import inception as cnnjax_inception  # noqa: E402


def pytorch_fid_network(seed: int, calibration: torch.Tensor):
  """pytorch-fid's InceptionV3 (pool3 block) with seeded random weights.

  Returns (wrapper, inner): `wrapper` is pytorch-fid's InceptionV3 (resize
  and normalisation included), `inner` the torchvision Inception3 whose
  state dict has the released file's keys.
  """
  torch.manual_seed(seed)
  built = {}
  make = pf._inception_v3

  def capture(*args, **kwargs):
    built["inner"] = make(*args, **kwargs)
    return built["inner"]

  pf._inception_v3 = capture
  # fid_inception_v3 would download the weights: it loads the network's own
  # random initial state instead.
  pf.load_state_dict_from_url = lambda *a, **k: built["inner"].state_dict()
  wrapper = pf.InceptionV3([pf.InceptionV3.BLOCK_INDEX_BY_DIM[2048]])
  inner = built["inner"]
  generator = torch.Generator().manual_seed(seed + 1)
  norms = [m for m in inner.modules() if isinstance(m, torch.nn.BatchNorm2d)]
  with torch.no_grad():
    for norm in norms:  # random affine parameters, then calibrated statistics
      norm.weight.uniform_(0.5, 1.5, generator=generator)
      norm.bias.normal_(0.0, 0.2, generator=generator)
      norm.reset_running_stats()
      norm.momentum = None  # cumulative average over the calibration batches
    inner.fc.weight.normal_(0.0, 0.05, generator=generator)
    inner.fc.bias.normal_(0.0, 0.1, generator=generator)
    wrapper.train()
    for chunk in calibration.split(16):
      wrapper(chunk)
  wrapper.eval()
  inner.eval()
  return wrapper, inner


def torch_embed(wrapper, inner, images_nhwc: np.ndarray):
  """[B, H, W, 3] floats in [0, 1] -> (pool3, logits) from pytorch-fid."""
  x = torch.from_numpy(np.ascontiguousarray(images_nhwc.transpose(0, 3, 1, 2)))
  features, logits = [], []
  with torch.no_grad():
    for chunk in x.split(25):
      pool3 = wrapper(chunk)[0][:, :, 0, 0]
      features.append(pool3.numpy())
      logits.append(inner.fc(pool3).numpy())
  return np.concatenate(features).astype(np.float64), np.concatenate(logits)


def crops(image: np.ndarray, size: int, count: int, rng) -> np.ndarray:
  """`count` random size x size crops of an HxWxC uint8 image."""
  h, w = image.shape[:2]
  ys = rng.integers(0, h - size + 1, count)
  xs = rng.integers(0, w - size + 1, count)
  return np.stack([image[y:y + size, x:x + size] for y, x in zip(ys, xs)])


def image_sets(rng) -> dict[str, np.ndarray]:
  """Real photographs at three input sizes/kinds, uint8 NHWC."""
  photos = [data.astronaut(), data.coffee(), data.chelsea(), data.rocket()]
  small = np.concatenate([crops(p, 32, 30, rng) for p in photos])
  large = np.concatenate([crops(p, 384, 10, rng) for p in photos
                          if min(p.shape[:2]) >= 384])
  gray = np.concatenate([crops(data.camera(), 48, 60, rng)[..., None],
                         crops(data.moon(), 48, 60, rng)[..., None]])
  return {"32px RGB crops (upsampled)": small,
          "384px RGB crops (downsampled)": large,
          "48px grayscale crops": gray}


def relative_error(a: np.ndarray, b: np.ndarray) -> float:
  return float(np.abs(a - b).max() / np.abs(b).max())


def main() -> int:
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--seed", type=int, default=0)
  args = parser.parse_args()
  torch.set_num_threads(2)
  rng = np.random.default_rng(args.seed)
  sets = image_sets(rng)
  calibration = torch.from_numpy(
      sets["32px RGB crops (upsampled)"][::2].transpose(0, 3, 1, 2) / 255.0
  ).float()
  wrapper, inner = pytorch_fid_network(args.seed, calibration)

  with tempfile.TemporaryDirectory() as tmp:
    pth, npz = os.path.join(tmp, "random.pth"), os.path.join(tmp, "random.npz")
    torch.save(inner.state_dict(), pth)
    # The conversion command the README documents, as a user runs it.
    subprocess.run([sys.executable, "-m", "cnnjax.nets.convert_inception",
                    "--torch_file", pth, "--out", npz], check=True)
    network = cnnjax_inception.load_inception_weights(npz)

  results = {"seed": args.seed, "torch": torch.__version__,
             "pytorch_fid": getattr(pf, "__version__", "0.3.0"), "sets": {}}
  features = {}
  for name, images in sets.items():
    start = time.perf_counter()
    rgb = images if images.shape[-1] == 3 else np.repeat(images, 3, -1)
    t_features, t_logits = torch_embed(wrapper, inner,
                                       rgb.astype(np.float32) / 255)
    torch_s = time.perf_counter() - start
    start = time.perf_counter()
    j_features, j_logits = [], []
    for chunk in np.array_split(images, max(1, len(images) // 25)):
      f, l = network.features_and_logits(chunk)  # uint8 in, as cnnjax eval
      j_features.append(np.asarray(f))
      j_logits.append(np.asarray(l))
    j_features = np.concatenate(j_features).astype(np.float64)
    j_logits = np.concatenate(j_logits)
    cnnjax_s = time.perf_counter() - start
    features[name] = (t_features, j_features)
    results["sets"][name] = {
        "images": len(images), "input": list(images.shape[1:]),
        "pool3_max_rel_error": relative_error(j_features, t_features),
        "pool3_mean_abs": float(np.abs(t_features).mean()),
        "logits_max_rel_error": relative_error(j_logits, t_logits),
        "top1_agreement": float((j_logits.argmax(1) ==
                                 t_logits.argmax(1)).mean()),
        "torch_s": round(torch_s, 2), "cnnjax_s": round(cnnjax_s, 2)}
    print(json.dumps({name: results["sets"][name]}), flush=True)

  # FID between the small RGB crops and the grayscale crops, each side with
  # its own features, by pytorch-fid's formula and by cnnjax's.
  (t_a, j_a), (t_b, j_b) = (features["32px RGB crops (upsampled)"],
                            features["48px grayscale crops"])
  stats = lambda f: (f.mean(0), np.cov(f, rowvar=False))
  results["fid_pytorch_fid_on_torch_features"] = float(
      calculate_frechet_distance(*stats(t_a), *stats(t_b)))
  results["fid_pytorch_fid_on_cnnjax_features"] = float(
      calculate_frechet_distance(*stats(j_a), *stats(j_b)))
  results["fid_cnnjax_on_cnnjax_features"] = cnnjax_fid.fid_from_features(
      j_a, j_b)
  print(json.dumps({k: v for k, v in results.items() if k != "sets"}))
  return 0


if __name__ == "__main__":
  sys.exit(main())
