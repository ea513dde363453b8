"""cnnjax's Gatys style transfer against a PyTorch implementation of the
losses of PyTorch's tutorial ("Neural Transfer Using PyTorch"), on the same
seeded random VGG-19, the same images and the same start.

  check: torchvision's vgg19() with torch.manual_seed(0) weights is saved as
    a .pth, converted with `python -m cnnjax.nets.convert_vgg` and loaded by
    cnnjax as vgg19:<file.npz>. On scikit-image's astronaut (content) and
    chelsea (style), at 256 px, both compute the content, style and TV
    losses of one image (per layer too), then run the same Adam steps from
    the content image, and the images are compared.
  time: one framework's seconds for STEPS Adam steps at SIZE px (one
    process; compilation and warm-up are timed apart).
  speed: `time` runs of both frameworks, alternating, in fresh processes;
    cnnjax twice: with autodiff's convolution gradient (--conv xla, vgg.py
    before cnnjax/nets/conv3x3.py) and with conv3x3's written-out VJP
    (--conv vjp, vgg.py now); conv_vjp.py switches between them.

The PyTorch side is the tutorial's code (gram_matrix, ContentLoss,
StyleLoss, the model cut after the last loss layer, non-inplace ReLUs),
with two additions cnnjax has: a total-variation term, and the image
parameterised as cnnjax's, y in [-1, 1] fed to the network as (y + 1) / 2
and clamped to [-1, 1] after every Adam step (the tutorial clamps x to
[0, 1]). Layers are named as cnnjax names them and mapped to the
tutorial's conv_i / relu_i.

Run with a Python that has torch, torchvision and cnnjax (README.md):
  python experiments/2026-12-03-style-transfer/reference.py check
  python experiments/2026-12-03-style-transfer/reference.py speed
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
import torch.nn.functional as F
import torchvision
from PIL import Image
from skimage import data

from cnnjax.editing import style, style_losses

HERE = os.path.dirname(os.path.abspath(__file__))
PRESET = "tutorial"
CONTENT_WEIGHT, STYLE_WEIGHT, TV_WEIGHT = 1.0, 1e6, 10.0
LEARNING_RATE = 0.02


# ---------------------------------------------------------------------------
# Images and settings, shared by both sides.


def images(size: int) -> tuple[np.ndarray, np.ndarray]:
  """Astronaut (content) and chelsea (style), longer side `size`, [-1, 1]."""
  def fit(pixels):
    scale = size / max(pixels.shape[:2])
    shape = (round(pixels.shape[1] * scale), round(pixels.shape[0] * scale))
    resized = np.asarray(Image.fromarray(pixels).resize(shape, Image.LANCZOS))
    return resized.astype(np.float32) / 127.5 - 1
  return fit(data.astronaut()), fit(data.chelsea())


def settings(steps: int, layers: str = PRESET) -> style.Settings:
  content_layers, style_layers = style_losses.LAYER_PRESETS[layers]
  return style.Settings(content_layers=content_layers,
                        style_layers=style_layers,
                        content_weight=CONTENT_WEIGHT,
                        style_weight=STYLE_WEIGHT, tv_weight=TV_WEIGHT,
                        optimizer="adam", steps=steps,
                        learning_rate=LEARNING_RATE)


# ---------------------------------------------------------------------------
# PyTorch: the tutorial's losses.


def gram_matrix(input):
  a, b, c, d = input.size()  # a=batch size(=1)
  features = input.view(a * b, c * d)
  G = torch.mm(features, features.t())
  return G.div(a * b * c * d)


class ContentLoss(torch.nn.Module):

  def __init__(self, target):
    super().__init__()
    self.target = target.detach()

  def forward(self, input):
    self.loss = F.mse_loss(input, self.target)
    return input


class StyleLoss(torch.nn.Module):

  def __init__(self, target_feature):
    super().__init__()
    self.target = gram_matrix(target_feature).detach()

  def forward(self, input):
    G = gram_matrix(input)
    self.loss = F.mse_loss(G, self.target)
    return input


class Normalization(torch.nn.Module):

  def __init__(self):
    super().__init__()
    self.mean = torch.tensor([0.485, 0.456, 0.406]).view(-1, 1, 1)
    self.std = torch.tensor([0.229, 0.224, 0.225]).view(-1, 1, 1)

  def forward(self, img):
    return (img - self.mean) / self.std


def tutorial_names(cnn) -> list[str]:
  """The tutorial's name of every module of vgg19().features, by cnnjax's
  name: conv1_1 -> conv_1, relu1_1 -> relu_1, conv1_2 -> conv_2, ..."""
  names, block, k, i = [], 1, 0, 0
  for layer in cnn.children():
    if isinstance(layer, torch.nn.Conv2d):
      i, k = i + 1, k + 1
      names.append((f"conv{block}_{k}", f"conv_{i}"))
    elif isinstance(layer, torch.nn.ReLU):
      names.append((f"relu{block}_{k}", f"relu_{i}"))
    else:
      names.append((f"pool{block}", f"pool_{i}"))
      block, k = block + 1, 0
  return names


def style_model_and_losses(cnn, style_img, content_img, content_layers,
                           style_layers):
  """The tutorial's get_style_model_and_losses, with cnnjax's layer names.

  The targets come from the layers alone (`plain`): the tutorial runs the
  model with its loss modules, which works only for a style image of the
  content's size, and ours keeps the style's aspect ratio."""
  model = torch.nn.Sequential(Normalization())
  plain = torch.nn.Sequential(Normalization())
  content_losses, style_losses_ = [], []
  for layer, (ours, _) in zip(cnn.children(), tutorial_names(cnn)):
    if isinstance(layer, torch.nn.ReLU):
      layer = torch.nn.ReLU(inplace=False)
    model.add_module(ours, layer)
    plain.add_module(ours, layer)
    if ours in content_layers:
      target = plain(content_img).detach()
      content_losses.append(ContentLoss(target))
      model.add_module(f"content_loss_{ours}", content_losses[-1])
    if ours in style_layers:
      target_feature = plain(style_img).detach()
      style_losses_.append(StyleLoss(target_feature))
      model.add_module(f"style_loss_{ours}", style_losses_[-1])
  for i in range(len(model) - 1, -1, -1):  # cut after the last loss
    if isinstance(model[i], (ContentLoss, StyleLoss)):
      break
  return model[:i + 1], style_losses_, content_losses


def to_torch(image: np.ndarray) -> torch.Tensor:
  """[H, W, 3] in [-1, 1] -> [1, 3, H, W]."""
  return torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1)))[None]


class TorchStyle:
  """The tutorial's losses on an image y in [-1, 1]."""

  def __init__(self, cnn, content, style_image, config: style.Settings):
    self.config = config
    to01 = lambda x: (to_torch(x) + 1) / 2
    self.model, self.style_losses, self.content_losses = (
        style_model_and_losses(cnn, to01(style_image), to01(content),
                               config.content_layers, config.style_layers))
    self.model.requires_grad_(False)

  def terms(self, y: torch.Tensor) -> dict[str, torch.Tensor]:
    self.model((y + 1) / 2)
    content = sum(loss.loss for loss in self.content_losses)
    style_loss = sum(loss.loss for loss in self.style_losses)
    tv = (torch.mean((y[:, :, 1:] - y[:, :, :-1]) ** 2) +
          torch.mean((y[:, :, :, 1:] - y[:, :, :, :-1]) ** 2))
    total = (self.config.content_weight * content +
             self.config.style_weight * style_loss +
             self.config.tv_weight * tv)
    return {"content": content, "style": style_loss, "tv": tv,
            "total": total,
            **{f"style_{name}": loss.loss for name, loss in
               zip(self.config.style_layers, self.style_losses)}}

  def adam(self, start: np.ndarray, steps: int) -> np.ndarray:
    y = to_torch(start).clone().requires_grad_(True)
    optimizer = torch.optim.Adam([y], lr=self.config.learning_rate)
    for _ in range(steps):
      optimizer.zero_grad()
      self.terms(y)["total"].backward()
      optimizer.step()
      with torch.no_grad():
        y.clamp_(-1, 1)
    return y.detach()[0].numpy().transpose(1, 2, 0)


def torch_vgg19(seed: int):
  torch.manual_seed(seed)
  return torchvision.models.vgg19(weights=None).eval()


# ---------------------------------------------------------------------------
# cnnjax's side: the same terms, as `style` computes them.


def jax_terms(net, content, style_image, config, image) -> dict[str, float]:
  """cnnjax's loss terms of `image`, with the per-layer style losses."""
  import jax
  import jax.numpy as jnp
  layers = config.content_layers + config.style_layers
  found = lambda x: {k: v[0] for k, v in net.apply(
      net.weights, jnp.asarray(x)[None], layers).items()}
  target, styled, current = found(content), found(style_image), found(image)
  per_layer = {f"style_{name}": style_losses.style_layer_loss(
      current[name], style_losses.gram(styled[name]))
               for name in config.style_layers}
  content_loss = sum(style_losses.content_layer_loss(current[n], target[n])
                     for n in config.content_layers)
  style_loss = sum(per_layer.values())
  tv = style_losses.total_variation(jnp.asarray(image))
  total = (config.content_weight * content_loss +
           config.style_weight * style_loss + config.tv_weight * tv)
  values = {"content": content_loss, "style": style_loss, "tv": tv,
            "total": total, **per_layer}
  return {k: float(jax.device_get(v)) for k, v in values.items()}


def check(args) -> dict:
  from cnnjax import nets
  workdir = tempfile.mkdtemp(prefix="style-reference-")
  pth, npz = (os.path.join(workdir, f"vgg19.{ext}") for ext in ("pth", "npz"))
  cnn = torch_vgg19(args.seed)
  torch.save(cnn.state_dict(), pth)
  subprocess.run([sys.executable, "-m", "cnnjax.nets.convert_vgg",
                  "--torch_file", pth, "--out", npz], check=True)
  net = nets.load(f"vgg19:{npz}", dataset="", data_dir="")
  content, style_image = images(args.size)
  config = settings(args.steps)
  reference = TorchStyle(cnn.features, content, style_image, config)

  # The losses of one image: the content with seeded noise (so that no
  # term is zero).
  noisy = np.clip(content + np.random.default_rng(args.seed).normal(
      0, 0.3, content.shape), -1, 1).astype(np.float32)
  with torch.no_grad():
    ours = jax_terms(net, content, style_image, config, noisy)
    theirs = {k: float(v) for k, v in
              reference.terms(to_torch(noisy)).items()}
  relative = {k: abs(ours[k] - theirs[k]) / abs(theirs[k]) for k in theirs}

  # The same Adam steps from the content image.
  start = time.perf_counter()
  torch_image = reference.adam(content, args.steps)
  torch_seconds = time.perf_counter() - start
  result = style.stylize(net, content[None], [style_image], config)
  difference = np.abs(result.images[0] - torch_image)
  with torch.no_grad():
    torch_final = float(reference.terms(to_torch(torch_image))["total"])
  row = {"size": list(content.shape[:2]), "style_size":
         list(style_image.shape[:2]), "seed": args.seed,
         "layers": PRESET, "weights": [CONTENT_WEIGHT, STYLE_WEIGHT,
                                       TV_WEIGHT],
         "cnnjax_losses": ours, "torch_losses": theirs,
         "relative_error": relative,
         "max_relative_error": max(relative.values()),
         "adam_steps": args.steps, "learning_rate": LEARNING_RATE,
         "max_pixel_difference": float(difference.max()),
         "mean_pixel_difference": float(difference.mean()),
         "pixels_differing_over_1_255": float(np.mean(difference > 2 / 255)),
         "final_total_cnnjax": float(result.final["total"][0]),
         "final_total_torch": torch_final,
         "seconds_cnnjax": result.seconds, "seconds_torch": torch_seconds}
  for name, image in (("cnnjax", result.images[0]), ("torch", torch_image)):
    Image.fromarray(np.clip(np.rint((image + 1) * 127.5), 0, 255).astype(
        np.uint8)).save(os.path.join(HERE, f"reference-{name}.png"))
  return row


# ---------------------------------------------------------------------------
# Speed.


def time_one(args) -> dict:
  """Seconds for STEPS Adam steps of one image at SIZE px."""
  content, style_image = images(args.size)
  config = settings(args.steps, args.layers)
  if args.framework == "torch":
    cnn = torch_vgg19(args.seed).features
    start = time.perf_counter()
    reference = TorchStyle(cnn, content, style_image, config)
    reference.adam(content, 2)  # warm-up (oneDNN picks its kernels)
    warmup = time.perf_counter() - start
    start = time.perf_counter()
    reference.adam(content, args.steps)
    seconds = time.perf_counter() - start
    threads = torch.get_num_threads()
  else:
    import jax

    from cnnjax import nets
    sys.path.insert(0, HERE)
    import conv_vjp  # pylint: disable=import-outside-toplevel
    conv_vjp.install(args.conv)
    net = nets.load(f"vgg19:random:{args.seed}", dataset="", data_dir="")
    result = style.stylize(net, content[None], [style_image], config,
                           devices=jax.devices()[:1])
    seconds, warmup, threads = result.seconds, result.compile_seconds, None
  return {"framework": args.framework if args.framework == "torch" else
          f"cnnjax ({args.conv} conv)", "size": list(content.shape[:2]),
          "layers": args.layers, "steps": args.steps,
          "seconds_per_image": seconds, "seconds_per_step":
          seconds / args.steps, "warmup_or_compile_seconds": warmup,
          "torch_threads": threads, "load": os.getloadavg()}


def speed(args) -> list[dict]:
  rows = []
  variants = [("torch", "xla"), ("jax", "xla"), ("jax", "vjp")]
  for size in args.sizes:
    for repeat in range(args.repeats):
      for framework, conv in (variants if repeat % 2 == 0 else
                              variants[::-1]):
        command = [sys.executable, os.path.abspath(__file__), "time",
                   "--framework", framework, "--size", str(size),
                   "--steps", str(args.steps), "--layers", args.layers,
                   "--conv", conv]
        found = subprocess.run(command, check=True, capture_output=True,
                               text=True)
        row = json.loads(found.stdout.strip().splitlines()[-1])
        print(json.dumps(row), flush=True)
        rows.append(row)
  return rows


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("mode", choices=("check", "time", "speed"))
  parser.add_argument("--seed", type=int, default=0)
  parser.add_argument("--size", type=int, default=256)
  parser.add_argument("--steps", type=int, default=50)
  parser.add_argument("--layers", default=PRESET,
                      choices=tuple(style_losses.LAYER_PRESETS))
  parser.add_argument("--framework", choices=("torch", "jax"))
  parser.add_argument("--repeats", type=int, default=2)
  parser.add_argument("--sizes", type=int, nargs="+", default=[256, 512])
  parser.add_argument("--conv", choices=("xla", "vjp"), default="xla",
                      help="cnnjax's VGG convolution: autodiff's gradient "
                      "(xla) or conv3x3's written-out VJP (vjp, vgg.py's)")
  args = parser.parse_args()
  if args.mode == "speed":
    speed(args)  # prints a line per run
    return
  row = check(args) if args.mode == "check" else time_one(args)
  print(json.dumps(row), flush=True)


if __name__ == "__main__":
  main()
