"""`cnnjax stylize` as a function a test can call: reads the images, picks
the VGG, checks the size fits in memory, runs `style.stylize` and writes
the result.

  row = stylize_images("photo.jpg", "starry.jpg", "out.png", size=256)

The network: `--vgg FILE.npz` (or a spec such as vgg19:random:3), else the
converted VGG-19 at its default path if it exists, else VGG-19 with random
weights (`vgg19:random:0`); which one is said on stderr and in the row.
Nothing is downloaded.
"""

import dataclasses
import os
import sys

import jax
import numpy as np
from PIL import Image

from cnnjax import nets
from cnnjax.data.tfds_catalog import resolve_data_dir
from cnnjax.editing import inputs, style
from cnnjax.errors import UserError
from cnnjax.utils import files
from cnnjax.utils import images as images_lib

RANDOM_VGG = "vgg19:random:0"
# What one image's optimisation holds, in bytes per float of every
# activation up to the deepest layer used (the forward values kept for the
# backward pass, their gradients, XLA's scratch; L-BFGS's line search keeps
# a second evaluation). XLA's memory_analysis() of the compiled program,
# VGG-19 on CPU, gatys layers: 10.7 (Adam) and 16.7 (L-BFGS) at 256 px,
# 15.0 and 21.0 at 128 px, where fixed costs weigh more.
BYTES_PER_ACTIVATION = {"adam": 12, "lbfgs": 18}
MEMORY_SHARE = 0.7  # of the device's free memory one stylisation may take


def stylize_images(content: str, style_images: str, out: str, *,
                   method: str = "gatys", workdir: str | None = None,
                   size: int | None = 512, vgg: str | None = None,
                   style_weights: str | None = None, mask: str | None = None,
                   settings: style.Settings | None = None,
                   seed: int = 0, overwrite: bool = False) -> dict:
  """Stylises the content image(s) and writes `out`; returns the JSON row.

  Args:
    content: a PNG/JPEG file, or several, comma-separated (then `out` is a
      folder, with one PNG per content image named after it).
    style_images: PNG/JPEG files, comma-separated.
    out: the PNG to write (a folder for several content images).
    method: "gatys" (main.py sends "adain" to `adain_command`).
    workdir: must be empty: an AdaIN run is for --method adain.
    size: the content's longer side in pixels (None: as it is); every style
      image is resized to the same longer side.
    vgg: a converted VGG-19 .npz, or a spec (vgg19:random:3, vgg16:FILE).
    style_weights: comma-separated relative weights of the style images.
    mask: PNG(s) of the content's size, white where the style applies: one
      for every style, or one per style, comma-separated. Outside every
      mask the output is the content, unchanged.
    settings: the optimisation's (default: `style.Settings()`); its
      style_weights are set from `style_weights`.
    seed: of the noise start (settings.init == "noise").
    overwrite: replace existing outputs.
  """
  if method != "gatys":
    raise UserError(f"--method {method!r}: stylize takes gatys (optimise "
                    "the image; no trained network) or adain (--workdir of "
                    "a configs/adain.py run).")
  if workdir:
    raise UserError("--workdir names an AdaIN run, for --method adain; "
                    "--method gatys needs none.")
  contents, styles = _paths(content, "--content"), _paths(style_images,
                                                           "--style")
  names = [os.path.splitext(os.path.basename(p))[0] + ".png"
           for p in contents]
  if len(contents) == 1:
    inputs.check_out_path(out, overwrite, ".png")
  else:
    if len(set(names)) < len(names):
      raise UserError(f"--content {content}: two images share a name, so "
                      "their outputs in --out would collide; rename one.")
    inputs.check_out_dir(out, overwrite, names)
  if size is not None and size < style.MIN_SIDE:
    raise UserError(f"--size {size}: give at least {style.MIN_SIDE} px.")
  settings = dataclasses.replace(settings or style.Settings(),
                                 style_weights=_weights(style_weights))

  originals = [read_rgb(path) for path in contents]
  shapes = {image.shape[:2] for image in originals}
  if len(shapes) > 1:
    raise UserError(f"--content {content}: the images differ in size "
                    f"({', '.join(f'{w}x{h}' for h, w in sorted(shapes))}); "
                    "a batch needs one size: crop them alike, or stylise "
                    "them one by one.")
  original_shape = originals[0].shape[:2]
  images = np.stack([resize(image, _target(image.shape[:2], size))
                     for image in originals])
  height, width = images.shape[1:3]
  style_arrays = [read_rgb(path) for path in styles]
  style_arrays = [resize(s, _target(s.shape[:2], max(height, width)))
                  for s in style_arrays]
  masks = (None if mask is None else
           read_masks(mask, len(styles), original_shape, (height, width)))

  net = nets.load(choose_network(vgg), dataset="", data_dir=resolve_data_dir(
      None))
  print(f"Network: {net.name} ({net.input_description})", file=sys.stderr,
        flush=True)
  style.check(settings, net, len(styles))
  used, padded = style.devices_for(len(images))
  check_memory(net, settings, (height, width), padded // len(used))

  result = style.stylize(net, to_float(images), [to_float(s) for s in
                                                 style_arrays],
                         settings, masks=masks, seed=seed)
  if len(contents) == 1:
    write_png(result.images[0], out)
  else:
    for name, image in zip(names, result.images):
      write_png(image, os.path.join(out, name))
  mean = lambda values: {k: float(np.mean(v)) for k, v in values.items()}
  return {
      "method": method, "network": net.name, "content": contents,
      "style": styles, "style_weights": list(settings.style_weights) or None,
      "mask": mask, "size": [height, width], "steps": settings.steps,
      "scales": settings.scales, "optimizer": settings.optimizer,
      "preserve_color": settings.preserve_color,
      "initial": mean(result.initial), "final": mean(result.final),
      "seconds": round(result.seconds, 3),
      "seconds_per_image": round(result.seconds / len(images), 3),
      "compile_seconds": round(result.compile_seconds, 3),
      "devices": result.devices, "out": os.path.abspath(out)}


def _paths(spec: str, flag: str) -> list[str]:
  paths = [p for p in spec.split(",") if p]
  if not paths:
    raise UserError(f"{flag} needs at least one PNG/JPEG file.")
  return paths


def _weights(spec: str | None) -> tuple[float, ...]:
  if not spec:
    return ()
  try:
    return tuple(float(w) for w in spec.split(","))
  except ValueError:
    raise UserError(f"--style_weights {spec}: write numbers separated by "
                    "commas, one per style image, e.g. 0.7,0.3.") from None


def _target(shape: tuple[int, int], longer: int | None) -> tuple[int, int]:
  """(height, width) with the longer side `longer`, aspect kept."""
  height, width = shape
  if longer is None:
    return height, width
  scale = longer / max(height, width)
  return max(round(height * scale), 1), max(round(width * scale), 1)


def read_rgb(path: str) -> np.ndarray:
  """uint8 [H, W, 3] of a PNG/JPEG file (gray expanded, alpha dropped)."""
  if not os.path.isfile(path):
    raise UserError(f"no such file: {path}; give a PNG/JPEG image.")
  return np.asarray(inputs.open_image(path).convert("RGB"))


def resize(image: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
  if image.shape[:2] == shape:
    return image
  return np.asarray(Image.fromarray(image).resize(shape[::-1],
                                                  Image.LANCZOS))


def to_float(image: np.ndarray) -> np.ndarray:
  return image.astype(np.float32) / 127.5 - 1.0


def read_masks(spec: str, num_styles: int, original: tuple[int, int],
               shape: tuple[int, int]) -> np.ndarray:
  """[num_styles, H, W] in [0, 1] (white = style) from one mask PNG for
  every style or one per style, each of the content's original size."""
  paths = _paths(spec, "--mask")
  if len(paths) not in (1, num_styles):
    raise UserError(f"--mask {spec}: give one mask for all styles or one "
                    f"per style ({num_styles}), comma-separated.")
  masks = []
  for path in paths:
    if not os.path.isfile(path):
      raise UserError(f"no such mask file: {path}.")
    picture = inputs.open_image(path).convert("L")
    if picture.size != original[::-1]:
      raise UserError(
          f"the mask {path} is {picture.width}x{picture.height}, but the "
          f"content is {original[1]}x{original[0]}; draw the mask at the "
          "content's size (white where the style applies).")
    values = np.asarray(picture.resize(shape[::-1], Image.BILINEAR),
                        np.float32) / 255
    if values.max() == 0:
      raise UserError(f"the mask {path} is black everywhere, so no style "
                      "would apply; paint the region to stylise white.")
    masks.append(values)
  return np.stack(masks * (num_styles if len(masks) == 1 else 1))


def choose_network(vgg: str | None) -> str:
  """The spec to load (see the module docstring); says why on stderr when
  it falls back to random weights."""
  if vgg:
    return vgg if vgg.split(":")[0] in ("vgg16", "vgg19") else f"vgg19:{vgg}"
  spec = nets.resolve("vgg19", dataset="", data_dir=resolve_data_dir(None))
  if os.path.isfile(spec.partition(":")[2]):
    return spec
  print(f"No converted VGG-19 weights at {spec.partition(':')[2]} (`python "
        "-m cnnjax.nets.convert_vgg` writes them; --vgg FILE.npz picks a "
        f"file): using {RANDOM_VGG}, random weights.", file=sys.stderr,
        flush=True)
  return RANDOM_VGG


def available_memory(device) -> int:
  """Bytes free on `device`: an accelerator's limit, or the host's
  MemAvailable (all memory if /proc/meminfo is missing)."""
  stats = device.memory_stats() if device.platform != "cpu" else None
  if stats and "bytes_limit" in stats:
    return stats["bytes_limit"] - stats.get("bytes_in_use", 0)
  try:
    with open("/proc/meminfo") as f:
      for line in f:
        if line.startswith("MemAvailable:"):
          return int(line.split()[1]) * 1024
  except OSError:
    pass
  return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def activation_bytes(net, settings: style.Settings,
                     shape: tuple[int, int]) -> int:
  """What one image's optimisation holds: every activation up to the
  deepest layer used (the network stops there), kept for the backward
  pass with its gradient and scratch."""
  used = set(settings.content_layers + settings.style_layers)
  deepest = max(net.layers.index(name) for name in used)
  found = jax.eval_shape(
      lambda w, x: net.apply(w, x, net.layers[:deepest + 1]), net.weights,
      jax.ShapeDtypeStruct((1, *shape, 3), np.float32))
  floats = sum(int(np.prod(a.shape)) for a in found.values())
  return BYTES_PER_ACTIVATION[settings.optimizer] * floats


def check_memory(net, settings: style.Settings, shape: tuple[int, int],
                 per_device: int) -> None:
  """Refuses a size whose activations would not fit, naming one that does."""
  style.check_sizes(net, settings, *shape)
  need = per_device * activation_bytes(net, settings, shape)
  have = MEMORY_SHARE * available_memory(jax.devices()[0])
  if need <= have:
    return
  fits = int(max(shape) * (have / need) ** 0.5) // 16 * 16
  raise UserError(
      f"{shape[1]}x{shape[0]} px needs about {need / 2**30:.1f} GiB for the "
      f"activations of {per_device} image(s) per device, more than "
      f"{MEMORY_SHARE:.0%} of the {have / MEMORY_SHARE / 2**30:.1f} GiB "
      f"free; use --size {max(fits, style.MIN_SIDE)} or less (no tiling is "
      "done).")


def write_png(image: np.ndarray, path: str) -> None:
  """[H, W, 3] in [-1, 1] as an 8-bit PNG, atomically."""
  pixels = images_lib.to_uint8(image)
  with files.atomic_write(path, "wb") as f:
    Image.fromarray(pixels).save(f, format="PNG")

