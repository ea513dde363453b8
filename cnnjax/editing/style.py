"""Gatys style transfer as one jitted optimisation, batched over content
images and split over devices.

  result = style.stylize(net, contents, [style_image], Settings(steps=300))
  result.images  # float32 [B, H, W, 3] in [-1, 1]

The optimised variable is the image itself, in [-1, 1] (or its luminance,
with `preserve_color`). Adam projects it back into range after every step,
as the PyTorch tutorial clamps its image. L-BFGS (optax's, with a zoom
line search) cannot be projected between steps without falsifying its
curvature pairs and its line search's stored values, so it minimises the
loss of the clipped variable instead: pixels that leave the range stop
moving (their gradient is zero), and the image written, the clipped
variable, is the one whose loss was minimised.

Each image is optimised on its own (`jax.vmap` of the whole loop, inside
`jax.shard_map` over the devices): L-BFGS's inner products and line search
never mix images, so a batch gives what one-by-one runs give. Coarse to
fine (`scales` > 1): the image is optimised at 1/2^k of the size, upsampled,
and optimised again, up to the full size; every scale is part of the one
compiled program. The losses are `style_losses`'.
"""

import dataclasses
import math
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.sharding import PartitionSpec

from cnnjax import sharding
from cnnjax.editing import style_losses as losses
from cnnjax.errors import UserError
from cnnjax.nets.base import FeatureNet

OPTIMIZERS = ("adam", "lbfgs")
INITS = ("content", "noise")
LOSS_NAMES = ("content", "style", "tv", "total")
# Of the coarsest scale; the network may need more (`check_sizes`).
MIN_SIDE = 8


@dataclasses.dataclass(frozen=True)
class Settings:
  """How a stylisation runs; hashable, so it keys compiled programs.

  Attributes:
    content_layers, style_layers: the network's layers each loss uses.
    gram_norm: "tutorial" or "paper" (see `style_losses`).
    content_weight, style_weight, tv_weight: the total loss's weights.
    style_weights: relative weights of the style images (normalised to sum
      to 1; () weighs them equally).
    optimizer: "adam" or "lbfgs".
    steps: optimisation steps at each scale (L-BFGS: iterations, each with
      a line search of one or more evaluations).
    learning_rate: Adam's, in [-1, 1] pixel units (0.05 is 0.025 on [0, 1]
      images); at 0.02, 150 steps at 192 px barely moved the content on the
      random VGG-19, at 0.05 and 0.1 the style showed.
    scales: 1 (full size only) or more: coarse-to-fine, each half the next.
    preserve_color: transfer on luminance alone, keeping the content's
      chroma (the style's luminance is matched to the content's first).
    init: start from the "content" image or from uniform "noise" (drawn
      from the seed alone, the same for every image of a batch).
    lbfgs_memory: L-BFGS's history length.
  """

  content_layers: tuple[str, ...] = losses.LAYER_PRESETS["gatys"][0]
  style_layers: tuple[str, ...] = losses.LAYER_PRESETS["gatys"][1]
  gram_norm: str = "tutorial"
  content_weight: float = 1.0
  style_weight: float = 1e6
  tv_weight: float = 0.0
  style_weights: tuple[float, ...] = ()
  optimizer: str = "adam"
  steps: int = 300
  learning_rate: float = 0.05
  scales: int = 1
  preserve_color: bool = False
  init: str = "content"
  lbfgs_memory: int = 10


@dataclasses.dataclass(frozen=True, eq=False)
class Result:
  """What `stylize` returns: images [B, H, W, 3] in [-1, 1]; per image the
  loss terms (LOSS_NAMES) at the start and the end, and the total before
  every step ([B, scales·steps]); seconds running and compiling."""

  images: np.ndarray
  initial: dict[str, np.ndarray]
  final: dict[str, np.ndarray]
  history: np.ndarray
  seconds: float
  compile_seconds: float
  devices: int


def check(settings: Settings, net: FeatureNet, num_styles: int) -> None:
  """Refuses settings that cannot run, each with its fix."""
  unknown = sorted(set(settings.content_layers + settings.style_layers) -
                   set(net.layers))
  if unknown:
    raise UserError(f"{net.name} has no layers {unknown}; its layers are "
                    f"{', '.join(net.layers)}.")
  if not settings.style_layers:
    raise UserError("Style transfer needs at least one style layer.")
  choices = {"optimizer": OPTIMIZERS, "init": INITS,
             "gram_norm": losses.GRAM_NORMS}
  for field, allowed in choices.items():
    if getattr(settings, field) not in allowed:
      raise UserError(f"--{field} {getattr(settings, field)!r}: use one of "
                      f"{', '.join(allowed)}.")
  if settings.steps < 1 or settings.scales < 1:
    raise UserError(f"--steps {settings.steps} and --scales "
                    f"{settings.scales} must be at least 1.")
  weights = settings.style_weights
  if weights and (len(weights) != num_styles or min(weights) < 0 or
                  sum(weights) <= 0):
    raise UserError(f"--style_weights {','.join(map(str, weights))}: give "
                    f"{num_styles} non-negative weights, one per style image, "
                    "not all zero.")


def scale_sizes(height: int, width: int, scales: int) -> list[tuple[int, int]]:
  """(height, width) of every scale, coarsest first, the last the full size."""
  sizes = [(max(round(height / 2 ** k), 1), max(round(width / 2 ** k), 1))
           for k in reversed(range(scales))]
  if min(sizes[0]) < MIN_SIDE:
    raise UserError(f"--scales {scales} makes the coarsest scale "
                    f"{sizes[0][1]}x{sizes[0][0]} px; it needs at least "
                    f"{MIN_SIDE} px a side: use fewer scales or a larger "
                    "--size.")
  return sizes


def check_sizes(net: FeatureNet, settings: Settings, height: int,
                width: int) -> None:
  """Refuses a size whose coarsest scale is too small for the network's
  deepest layer used (VGG's relu5_1 needs 16 px)."""
  small = scale_sizes(height, width, settings.scales)[0]
  layers = tuple(set(settings.content_layers + settings.style_layers))
  try:
    jax.eval_shape(lambda w, x: net.apply(w, x, layers), net.weights,
                   jax.ShapeDtypeStruct((1, *small, 3), jnp.float32))
  except ValueError as error:
    raise UserError(f"{error} ({small[1]}x{small[0]} px is the coarsest "
                    f"of --scales {settings.scales}): use a larger --size or "
                    "fewer --scales.") from None


def _resize(image: jax.Array, height: int, width: int) -> jax.Array:
  if image.shape[:2] == (height, width):
    return image
  return jax.image.resize(image, (height, width, image.shape[-1]), "linear",
                          antialias=True)


def _per_image(net: FeatureNet, settings: Settings):
  """The whole optimisation of one content image, every scale:
  (weights, content [H, W, 3], styles, masks, noise) -> outputs."""
  layers = tuple(dict.fromkeys(settings.content_layers +
                               settings.style_layers))
  relative = np.asarray(settings.style_weights or (1.0,), np.float64)

  def activations(weights, image):
    if image.shape[-1] == 1:  # luminance: the network sees it as gray RGB
      image = jnp.repeat(image, 3, axis=-1)
    return {k: v[0] for k, v in net.apply(weights, image[None],
                                          layers).items()}

  def objective(weights, content, styles, masks):
    """The loss terms of an image and its composition with the content,
    for one content image at one scale."""
    if settings.preserve_color:
      content_y = losses.luminance(content)
      styles = [losses.match_luminance(losses.luminance(s), content_y)
                for s in styles]
      content = content_y
    target = activations(weights, content)
    share = (relative / relative.sum() if settings.style_weights else
             np.full(len(styles), 1.0 / len(styles)))
    # Per style: its weight, and per layer its Gram and its mask at the
    # layer's resolution (the content's activations have the image's).
    targets = []
    for index, style_image in enumerate(styles):
      found = activations(weights, style_image)
      targets.append((share[index], {
          name: (losses.gram(found[name]),
                 None if masks is None else losses.resize_mask(
                     masks[index], *target[name].shape[:2]))
          for name in settings.style_layers}))

    def compose(x):
      # Outside every mask the picture is the content's: only the content
      # loss (deep, weak on pixels) would hold it there, and Adam's
      # normalised steps turn its small gradients into speckle.
      if masks is None:
        return x
      coverage = jnp.clip(masks.sum(0), 0.0, 1.0)[..., None]
      return content + coverage * (x - content)

    def terms(x):
      x = compose(x)
      found = activations(weights, x)
      content_loss = sum(losses.content_layer_loss(found[name], target[name])
                         for name in settings.content_layers)
      style_loss = sum(
          weight * sum(losses.style_layer_loss(found[name], gram, mask,
                                               settings.gram_norm)
                       for name, (gram, mask) in layers_of.items())
          for weight, layers_of in targets)
      tv_loss = losses.total_variation(x)
      total = (settings.content_weight * content_loss +
               settings.style_weight * style_loss +
               settings.tv_weight * tv_loss)
      return {"content": content_loss, "style": style_loss, "tv": tv_loss,
              "total": total}
    return terms, compose

  def bounds(content):
    if settings.preserve_color:
      return losses.luminance_bounds(content)
    return -1.0, 1.0

  def optimise(x, terms, low, high):
    """`settings.steps` steps from x: (x, total before each step)."""
    loss_fn = lambda x: terms(x)["total"]
    if settings.optimizer == "adam":
      optimizer = optax.adam(settings.learning_rate)
      grad_fn = jax.value_and_grad(loss_fn)

      def step(carry, _):
        x, state = carry
        value, grad = grad_fn(x)
        updates, state = optimizer.update(grad, state)
        return (jnp.clip(x + updates, low, high), state), value
    else:
      optimizer = optax.lbfgs(memory_size=settings.lbfgs_memory)
      clipped_loss_fn = lambda x: loss_fn(jnp.clip(x, low, high))
      grad_fn = optax.value_and_grad_from_state(clipped_loss_fn)

      def step(carry, _):
        x, state = carry
        value, grad = grad_fn(x, state=state)
        updates, state = optimizer.update(grad, state, x, value=value,
                                          grad=grad,
                                          value_fn=clipped_loss_fn)
        return (x + updates, state), value
    (x, _), history = jax.lax.scan(step, (x, optimizer.init(x)), None,
                                   length=settings.steps)
    return x, history

  def run(weights, content, styles, masks, noise):
    full = content.shape[:2]
    scales = []  # (size, terms, low, high) of each scale, coarsest first
    for height, width in scale_sizes(*full, settings.scales):
      factor = height / full[0]
      scaled = _resize(content, height, width)
      scaled_styles = [_resize(s, max(round(s.shape[0] * factor), 1),
                               max(round(s.shape[1] * factor), 1))
                       for s in styles]
      scaled_masks = None if masks is None else jnp.stack(
          [_resize(m[..., None], height, width)[..., 0] for m in masks])
      scales.append(((height, width),
                     objective(weights, scaled, scaled_styles, scaled_masks),
                     *bounds(scaled)))
    x = noise if settings.init == "noise" else content
    if settings.preserve_color:
      x = losses.luminance(x)
    _, (terms, compose), low, high = scales[-1]
    initial = terms(jnp.clip(x, low, high))  # of the start, at full size
    histories = []
    for size, (terms, _), low, high in scales:
      x = jnp.clip(_resize(x, *size), low, high)
      x, history = optimise(x, terms, low, high)
      histories.append(history)
    x = jnp.clip(x, low, high)  # L-BFGS's variable; Adam's is in range
    final = terms(x)
    x = compose(x)
    image = (losses.with_content_chroma(x, content)
             if settings.preserve_color else x)
    return image, initial, final, jnp.concatenate(histories)
  return run


def build(net: FeatureNet, settings: Settings, mesh):
  """The jitted program: (weights, contents [B, H, W, 3] split over the
  mesh, styles, masks [S, H, W] or None, noise [H, W, 3]) -> (images,
  initial, final, history)."""
  data, whole = PartitionSpec(sharding.DATA_AXIS), PartitionSpec()
  per_device = jax.vmap(_per_image(net, settings),
                        in_axes=(None, 0, None, None, None))
  # Without check_vma: optax's states mix per-device values (the image)
  # with replicated ones (step counts), which the check would refuse.
  return jax.jit(jax.shard_map(per_device, mesh=mesh,
                               in_specs=(whole, data, whole, whole, whole),
                               out_specs=data, check_vma=False))


def devices_for(count: int, devices=None) -> tuple[list, int]:
  """The devices a batch of `count` images uses, and the padded batch:
  each device gets the fewest images any split gives (ceil(count /
  devices)), and no more devices than that needs."""
  devices = list(devices if devices is not None else jax.devices())
  per_device = math.ceil(count / len(devices))
  used = math.ceil(count / per_device)
  return devices[:used], used * per_device


def stylize(net: FeatureNet, contents: np.ndarray, styles: list[np.ndarray],
            settings: Settings, *, masks: np.ndarray | None = None,
            seed: int = 0, devices=None) -> Result:
  """Stylises content images [B, H, W, 3] in [-1, 1] with the style images
  (each [h, w, 3] in [-1, 1], used at the size given) and optional masks
  [S, H, W] in [0, 1] (1: the style applies), one per style."""
  check(settings, net, len(styles))
  contents = np.asarray(contents, np.float32)
  count, height, width, _ = contents.shape
  check_sizes(net, settings, height, width)
  if masks is not None and masks.shape != (len(styles), height, width):
    raise UserError(f"the masks are {masks.shape[1:]} (and {len(masks)} of "
                    f"them) but the content is {(height, width)} with "
                    f"{len(styles)} styles: give one mask per style (or one "
                    "for all), of the content's size.")
  used, padded = devices_for(count, devices)
  mesh = sharding.make_mesh(used)
  rows = np.concatenate([contents, np.repeat(contents[-1:], padded - count,
                                             axis=0)])
  whole = sharding.replicated(mesh)
  noise = jax.random.uniform(jax.random.PRNGKey(seed), (height, width, 3),
                             minval=-1.0, maxval=1.0)
  args = (jax.device_put(net.weights, whole),
          jax.device_put(rows, sharding.batch_sharding(mesh)),
          jax.device_put([np.asarray(s, np.float32) for s in styles], whole),
          None if masks is None else jax.device_put(
              np.asarray(masks, np.float32), whole),
          jax.device_put(noise, whole))
  start = time.perf_counter()
  compiled = build(net, settings, mesh).lower(*args).compile()
  compile_seconds = time.perf_counter() - start
  start = time.perf_counter()
  images, initial, final, history = jax.block_until_ready(compiled(*args))
  seconds = time.perf_counter() - start
  host = lambda tree: jax.tree.map(lambda x: np.asarray(x)[:count], tree)
  return Result(images=host(images), initial=host(initial),
                final=host(final), history=host(history), seconds=seconds,
                compile_seconds=compile_seconds, devices=len(used))
