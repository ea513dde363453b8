"""`cnnjax stylize --method adain` as a function a test can call: one
forward pass of a trained AdaIN decoder (an adain run) per image.

  row = stylize_images("photo.jpg", "brick.png,grass.png", "out.png",
                       workdir="runs/adain", alpha=0.8,
                       style_weights="3,1")

The network is the run's own: the VGG-19 its checkpoint holds (model.vgg
says where it came from) and its decoder. Images are read and resized as
the gatys method reads them (cnnjax.editing.style_command), with both
sides rounded to multiples of 8 (the decoder makes 8 pixels of each
relu4_1 position). Fully convolutional, so any size runs; a size whose
activations would not fit in memory is refused with one that fits (no
tiling: AdaIN's statistics are of the whole image).
"""

import functools
import os
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np

from cnnjax import nets
from cnnjax.data.tfds_catalog import resolve_data_dir
from cnnjax.editing import adain, adain_model, inputs, style_command
from cnnjax.errors import UserError
from cnnjax.nets import vgg

MIN_SIDE = 32  # relu4_1 then has 4 x 4 positions to take statistics over
STEP = 8  # pixels per relu4_1 position


def stylize_images(content: str, style_images: str, out: str, *,
                   workdir: str | None, size: int | None = 512,
                   vgg: str | None = None, style_weights: str | None = None,
                   mask: str | None = None, alpha: float = 1.0,
                   preserve_color: bool = False, step=None,
                   overwrite: bool = False) -> dict:
  """Stylises the content image(s) with an adain run's decoder and writes
  `out`; returns the JSON row (losses, seconds, images per second, the
  network, the run and its step).

  Args:
    content, style_images, out, size, mask, overwrite: as the gatys
      method's (style_command.stylize_images).
    workdir: the adain run (configs/adain.py).
    vgg: optional; must name the run's own VGG (model.vgg), since the
      decoder only inverts the features it was trained on.
    style_weights: comma-separated relative weights: t = Σ_k w_k
      AdaIN(f(c), f(s_k)), the weights normalised to sum to 1.
    alpha: the content-style trade-off in [0, 1] (0: the content itself,
      through the decoder).
    preserve_color: keep the content's colours (adain.stylize_one).
    step: the run's checkpoint (None: the newest).
  """
  if not workdir:
    raise UserError("--method adain needs --workdir of an adain run "
                    "(cnnjax train --config configs/adain.py:content=DIR,"
                    "style=DIR).")
  spec = adain_model.run_config(workdir)["model"]["vgg"]
  if vgg and _resolved(vgg) != _resolved(spec):
    raise UserError(f"--vgg {vgg}: the decoder of {workdir} inverts the "
                    f"features of {spec}, which its checkpoint holds; omit "
                    "--vgg for --method adain.")
  if not 0 <= alpha <= 1:
    raise UserError(f"--alpha {alpha}: give a number in [0, 1] (1: all "
                    "style, 0: the content).")
  contents = style_command._paths(content, "--content")
  styles = style_command._paths(style_images, "--style")
  names = _check_out(contents, content, out, overwrite)
  if size is not None and size < MIN_SIDE:
    raise UserError(f"--size {size}: give at least {MIN_SIDE} px.")
  weights = _weights(style_weights, len(styles))

  originals = [style_command.read_rgb(path) for path in contents]
  shapes = {image.shape[:2] for image in originals}
  if len(shapes) > 1:
    raise UserError(f"--content {content}: the images differ in size "
                    f"({', '.join(f'{w}x{h}' for h, w in sorted(shapes))}); "
                    "a batch needs one size: crop them alike, or stylise "
                    "them one by one.")
  height, width = _shape(originals[0].shape[:2], size)
  images = np.stack([style_command.resize(image, (height, width))
                     for image in originals])
  style_arrays = [style_command.read_rgb(path) for path in styles]
  style_arrays = [style_command.resize(s, _shape(s.shape[:2],
                                                 max(height, width)))
                  for s in style_arrays]
  masks = (None if mask is None else style_command.read_masks(
      mask, len(styles), originals[0].shape[:2], (height, width)))
  check_memory([images.shape[1:3]] * len(images) +
               [s.shape[:2] for s in style_arrays])

  run = adain_model.read(workdir, step)
  print(f"Network: {spec}, VGG-19 up to relu4_1 from the checkpoint of "
        f"step {run.step} of {workdir}, and its decoder.", file=sys.stderr,
        flush=True)
  stylizer = functools.partial(adain_model.stylizer, run.graph)

  def stylize_one(networks, *args):
    return adain.stylize_one(*stylizer(networks), *args,
                             preserve_color=preserve_color)

  def losses_one(networks, parts, weights):
    return adain.losses_one(stylizer(networks)[0], parts, weights)

  # The networks are arguments, not constants baked into the program.
  stylize = jax.jit(jax.vmap(stylize_one,
                             in_axes=(None, 0, None, None, None, None)))
  arguments = (run.networks, style_command.to_float(images),
               [style_command.to_float(s) for s in style_arrays],
               None if weights is None else jnp.asarray(weights),
               None if masks is None else jnp.asarray(masks),
               jnp.float32(alpha))
  start = time.perf_counter()
  compiled = stylize.lower(*arguments).compile()
  compile_seconds = time.perf_counter() - start
  jax.block_until_ready(compiled(*arguments))  # a first run sets up buffers
  start = time.perf_counter()
  result, parts = jax.block_until_ready(compiled(*arguments))
  seconds = time.perf_counter() - start
  losses = jax.jit(jax.vmap(losses_one, in_axes=(None, 0, None)))(
      arguments[0], parts, arguments[3])

  if len(contents) == 1:
    style_command.write_png(np.asarray(result[0]), out)
  else:
    for name, image in zip(names, np.asarray(result)):
      style_command.write_png(image, os.path.join(out, name))
  return {
      "method": "adain", "network": spec, "workdir": os.path.abspath(workdir),
      "step": run.step, "content": contents, "style": styles,
      "style_weights": None if weights is None else weights.tolist(),
      "mask": mask, "size": [height, width], "alpha": alpha,
      "preserve_color": preserve_color,
      "content_loss": float(np.mean(losses["content_loss"])),
      "style_loss": float(np.mean(losses["style_loss"])),
      "seconds": round(seconds, 4),  # the second run, after a warm-up
      "seconds_per_image": round(seconds / len(images), 4),
      "images_per_second": round(len(images) / seconds, 3),
      "compile_seconds": round(compile_seconds, 3), "devices": 1,
      "out": os.path.abspath(out)}


def _resolved(spec: str) -> str:
  return nets.resolve(spec if spec.startswith("vgg") else f"vgg19:{spec}",
                      dataset="", data_dir=resolve_data_dir(None))


def _check_out(contents: list[str], content: str, out: str,
               overwrite: bool) -> list[str]:
  """The output file names of several contents (`out` is then a folder),
  after refusing outputs that exist or collide."""
  names = [os.path.splitext(os.path.basename(p))[0] + ".png"
           for p in contents]
  if len(contents) == 1:
    inputs.check_out_path(out, overwrite, ".png")
  elif len(set(names)) < len(names):
    raise UserError(f"--content {content}: two images share a name, so "
                    "their outputs in --out would collide; rename one.")
  else:
    inputs.check_out_dir(out, overwrite, names)
  return names


def _weights(spec: str | None, count: int) -> np.ndarray | None:
  """The style weights, normalised to sum to 1 (None: equal)."""
  weights = style_command._weights(spec)
  if not weights:
    return None
  if len(weights) != count or min(weights) < 0 or sum(weights) <= 0:
    raise UserError(f"--style_weights {spec}: give {count} non-negative "
                    "weights, one per style image, not all zero.")
  return np.asarray(weights, np.float32) / np.float32(sum(weights))


def _shape(shape: tuple[int, int], longer: int | None) -> tuple[int, int]:
  """(height, width) with the longer side `longer` (None: as it is), each
  rounded to a multiple of STEP."""
  height, width = style_command._target(shape, longer)
  if min(height, width) < MIN_SIDE:
    raise UserError(f"an image of {width}x{height} px is too small for "
                    f"AdaIN: give images (and --size) of at least "
                    f"{MIN_SIDE} px a side.")
  return (max(round(height / STEP), 1) * STEP,
          max(round(width / STEP), 1) * STEP)


def activation_bytes(shape: tuple[int, int]) -> int:
  """Bytes of every activation of VGG-19 up to relu4_1 for one image of
  `shape`: an upper bound of what its encoding holds at once (XLA frees
  each layer's input after use)."""
  names = vgg.LAYERS["vgg19"]
  layers = names[:names.index(adain.CONTENT_LAYER) + 1]
  found = jax.eval_shape(lambda w, x: vgg.apply(w, x, layers),
                         adain_model.encoder_shapes(),
                         jax.ShapeDtypeStruct((1, *shape, 3), jnp.float32))
  return 4 * sum(int(np.prod(a.shape)) for a in found.values())


def check_memory(shapes: list[tuple[int, int]]) -> None:
  """Refuses images whose encoding and decoding would not fit in
  style_command.MEMORY_SHARE of the device's free memory, naming a --size
  that fits. The decoder mirrors the encoder at most as wide: twice the
  encoder's activations bound both."""
  need = 2 * sum(activation_bytes(tuple(shape)) for shape in shapes)
  have = style_command.MEMORY_SHARE * style_command.available_memory(
      jax.devices()[0])
  if need <= have:
    return
  longest = max(max(shape) for shape in shapes)
  fits = int(longest * (have / need) ** 0.5) // STEP * STEP
  raise UserError(
      f"these images need about {need / 2**30:.1f} GiB for their "
      f"activations, more than {style_command.MEMORY_SHARE:.0%} of the "
      f"{have / style_command.MEMORY_SHARE / 2**30:.1f} GiB free; use "
      f"--size {max(fits, MIN_SIDE)} or less (no tiling is done: AdaIN's "
      "statistics are of the whole image).")
