"""VGG-16 and VGG-19 (Simonyan & Zisserman 2015) as torchvision builds them,
convolutional part only, with the activations of named layers (`LAYERS`):
conv1_1, relu1_1, conv1_2, relu1_2, pool1, conv2_1, ..., relu5_4 (VGG-19) or
relu5_3 (VGG-16), pool5 — the layers of Gatys et al.'s style transfer and of
perceptual losses. There is no classifier head (logits_layer None).

Input: images as cnnjax's models make them, float32 [B, H, W, 1|3] in
[-1, 1], any size of 32 px or more (pool5 halves it five times): (x + 1) / 2
into [0, 1], gray repeated to RGB, then torchvision's ImageNet normalisation
(x - mean) / std. Nothing is clipped, so an image being optimised (style
transfer) has gradients even where it leaves the range.

Pooling: `apply(..., pool="max")` is torchvision's 2x2 max pooling; "avg"
is the 2x2 average Gatys et al. (2016) use for image synthesis. Convolutions
run at full float32 precision on every accelerator, as Inception's do.

Weights, by spec (`cnnjax.nets`):

- `vgg19`, `vgg19:<file.npz>`: torchvision's ImageNet weights
  (vgg19-dcbb9e9d.pth, vgg16-397923af.pth) converted once with
  `python -m cnnjax.nets.convert_vgg`; the .npz keeps torchvision's
  `features.{i}.weight` (OIHW) / `.bias` keys, transposed to HWIO here.
  Nothing is ever downloaded.
- `vgg19:random[:<seed>]` (seed 0 by default): random weights for the same
  network, no file needed. He, Wang & Hopcroft (NeurIPS 2016, "A Powerful
  Generative Model Using Random Weights for the Deep Image Representation")
  show that an untrained VGG-19 synthesises textures and transfers style
  once its layers are brought to comparable scales: Gatys et al.'s Gram
  losses grow as the fourth power of a layer's activations, so layers whose
  random weights happen to amplify dominate the loss. They balance the
  layers with per-layer loss weights computed by a pre-processing step
  (and pick weights greedily by reconstruction quality, "stacked ranVGG",
  which is not done here). In a ReLU network with zero biases, multiplying
  layer l's kernel by c > 0 multiplies every activation from l on by c, so
  per-layer weight scales and per-layer loss weights are interchangeable;
  the scaling lives in the network here, where every loss sees it:
  1. kernels He-normal, N(0, 2 / (9 * in_channels)) (He et al. 2015), conv
     i drawn by numpy's default_rng([seed, i]); biases zero;
  2. on a fixed calibration set made in code (`calibration_images`: four
     128x128 RGB images with natural images' 1/f amplitude spectrum and
     correlated colours; no file, no download), layer by layer, each
     kernel is scaled so that its ReLU's mean activation over images,
     positions and channels is 1 under max pooling: Gatys et al.'s
     "normalised VGG" (mean activation one), per layer rather than per
     filter, since a random layer's filters are exchangeable. Scales are
     rounded to 3 significant digits, so the weights are the same bits on
     machines whose float32 sums differ in the last place.
  The criterion differs from the paper's, which (as its authors describe
  it) normalises each layer's impact on the input image for the image at
  hand, something only a loss knows; this one equalises the activations
  the losses are built from, on fixed images. On scikit-image's
  astronaut photograph the 16 ReLU layers' mean activations then lie within
  a factor 1.34 of one another, against 2.2 for He initialisation alone (a
  23x spread in Gram-loss scale; tests/nets/test_vgg.py). Calibration takes
  a few seconds, once per process. With pool="avg" each pooling lowers the
  scale by 12-13% (relu5_1's mean is ~0.6 of max pooling's), as averaging
  does in Gatys et al.'s own normalised VGG
  (experiments/2026-12-03-vgg-port).
"""

import functools
import os

import jax
import jax.numpy as jnp
import numpy as np

from cnnjax.errors import UserError
from cnnjax.models import layers as layers_lib
from cnnjax.nets import state_dicts
from cnnjax.nets.base import WEIGHTS_DIR, FeatureNet
from cnnjax.nets.conv3x3 import conv3x3
from cnnjax.utils import trees

# Convolutions per block; every block ends with a 2x2 pooling.
BLOCKS = {"vgg16": (2, 2, 3, 3, 3), "vgg19": (2, 2, 4, 4, 4)}
WIDTHS = (64, 128, 256, 512, 512)
TITLES = {"vgg16": "VGG-16", "vgg19": "VGG-19"}
# torchvision's ImageNet normalisation (transforms.Normalize in its presets).
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
TORCH_FILES = {"vgg16": "vgg16-397923af.pth", "vgg19": "vgg19-dcbb9e9d.pth"}
TORCH_URL = "https://download.pytorch.org/models/"
# torchvision's classifier: checked by the converter, then dropped.
CLASSIFIER_SHAPES = {
    "classifier.0.weight": (4096, 512 * 7 * 7), "classifier.0.bias": (4096,),
    "classifier.3.weight": (4096, 4096), "classifier.3.bias": (4096,),
    "classifier.6.weight": (1000, 4096), "classifier.6.bias": (1000,)}
POOLS = ("max", "avg")
PRECISION = jax.lax.Precision.HIGHEST
CALIBRATION_SEED = 2016
SCALE_DIGITS = 3


def _convs(arch: str) -> list[tuple[str, int, int, int]]:
  """(name, torchvision `features` index, in, out channels) per conv."""
  convs, index, channels = [], 0, 3
  for block, (count, width) in enumerate(zip(BLOCKS[arch], WIDTHS), 1):
    for k in range(1, count + 1):
      convs.append((f"conv{block}_{k}", index, channels, width))
      index += 2  # the conv and its ReLU
      channels = width
    index += 1  # the pooling
  return convs


def _layer_names(arch: str) -> tuple[str, ...]:
  names = []
  for block, count in enumerate(BLOCKS[arch], 1):
    for k in range(1, count + 1):
      names += [f"conv{block}_{k}", f"relu{block}_{k}"]
    names.append(f"pool{block}")
  return tuple(names)


LAYERS: dict[str, tuple[str, ...]] = {arch: _layer_names(arch)
                                      for arch in BLOCKS}


# ----------------------------------------------------------------------------
# The network: a pure function of its weights.


def _conv(x: jax.Array, weights) -> jax.Array:
  # conv3x3 writes out its VJP: autodiff's is ~3x slower on XLA:CPU inside
  # style transfer's scan of steps (see conv3x3.py).
  return conv3x3(x, weights["kernel"], PRECISION) + weights["bias"]


def _pool(x: jax.Array, kind: str) -> jax.Array:
  """2x2, stride 2, odd sizes floored (torchvision's MaxPool2d(2, 2))."""
  window = (1, 2, 2, 1)
  # Python scalars as initial values: JAX then knows the reductions as max
  # and sum pooling and can differentiate them (with an array it cannot:
  # style transfer's and AdaIN's gradients go through these).
  if kind == "max":
    return jax.lax.reduce_window(x, -jnp.inf, jax.lax.max, window, window,
                                 "VALID")
  summed = jax.lax.reduce_window(x, 0.0, jax.lax.add, window, window,
                                 "VALID")
  return summed / 4


def normalise(images: jax.Array) -> jax.Array:
  """[-1, 1] images, RGB or gray -> torchvision's ImageNet-normalised RGB."""
  x = (images.astype(jnp.float32) + 1) / 2
  if x.shape[-1] == 1:
    x = jnp.repeat(x, 3, axis=-1)
  return (x - jnp.array(IMAGENET_MEAN)) / jnp.array(IMAGENET_STD)


def _arch_of(weights) -> str:
  # conv3_4 is VGG-19's alone and comes early, so `truncate`d weights
  # still say which network they are.
  return "vgg19" if "conv3_4" in weights else "vgg16"


def truncate(weights, layer: str) -> dict:
  """The weights of the convolutions up to `layer`: all `apply` needs for
  the layers up to it, e.g. AdaIN's encoder up to relu4_1 (3.5M of
  VGG-19's 20M parameters). Cut before conv3_4, VGG-19's weights are
  VGG-16's up to there, and apply computes them alike."""
  names = LAYERS[_arch_of(weights)]
  if layer not in names:
    raise ValueError(f"no layer {layer!r}; the layers are {names}.")
  return {name: weights[name] for name in names[:names.index(layer) + 1]
          if name in weights}


def _stages(arch: str, weights, pool: str):
  stages = []
  for name in LAYERS[arch]:
    if name.startswith("conv"):
      if name not in weights:  # truncated weights end here
        break
      stages.append((name, functools.partial(_conv, weights=weights[name])))
    elif name.startswith("relu"):
      stages.append((name, jax.nn.relu))
    else:
      stages.append((name, functools.partial(_pool, kind=pool)))
  return stages


def apply(weights, images: jax.Array, layers: tuple[str, ...], *,
          pool: str = "max") -> dict[str, jax.Array]:
  """{layer: activations [B, h, w, C]} of the named `layers` (of LAYERS) for
  images in [-1, 1]; computes only up to the deepest one asked for.

  Pure and traceable: jit it with `layers` (and `pool`) static.
  """
  if pool not in POOLS:
    raise ValueError(f"pool must be one of {POOLS}, got {pool!r}.")
  arch = _arch_of(weights)
  names = LAYERS[arch]
  known = [names.index(layer) for layer in layers if layer in names]
  if known:
    deepest = names[max(known)]
    halvings = sum(name.startswith("pool") for name in names[:max(known) + 1])
    if min(images.shape[1:3]) < 2 ** halvings:
      raise ValueError(f"{TITLES[arch]}'s {deepest} needs images of at least "
                       f"{2 ** halvings} px, got {images.shape[1:3]}.")
  return layers_lib.named_activations(
      normalise(images), _stages(arch, weights, pool), tuple(layers),
      TITLES[arch])


# ----------------------------------------------------------------------------
# Weights: torchvision's state dict, or random ones.


def expected_shapes(arch: str, *, classifier: bool = False
                    ) -> dict[str, tuple[int, ...]]:
  """torchvision state-dict key -> shape (with its classifier if asked)."""
  shapes = {}
  for _, index, channels_in, channels_out in _convs(arch):
    shapes[f"features.{index}.weight"] = (channels_out, channels_in, 3, 3)
    shapes[f"features.{index}.bias"] = (channels_out,)
  return {**shapes, **(CLASSIFIER_SHAPES if classifier else {})}


def infer_arch(shapes, source: str) -> str:
  """"vgg16" or "vgg19" from a state dict's {key: shape}, by its number of
  convolution kernels; UserError for anything else (vgg*_bn included)."""
  if any(key.endswith(".running_mean") for key in shapes):
    raise UserError(
        f"{source} holds a batch-normalised VGG (torchvision's vgg*_bn: it "
        "has running_mean buffers); cnnjax ports the plain vgg16 and vgg19 "
        f"({', '.join(TORCH_FILES.values())}).")
  kernels = sum(1 for key, shape in shapes.items()
                if key.startswith("features.") and key.endswith(".weight")
                and len(shape) == 4)
  by_count = {len(_convs(arch)): arch for arch in BLOCKS}
  if kernels not in by_count:
    first = ", ".join(list(shapes)[:3]) or "none"
    raise UserError(
        f"{source} is not torchvision's VGG-16 or VGG-19 weights: "
        f"{kernels} convolution kernels under features.* (VGG-16 has 13, "
        f"VGG-19 16); its first keys: {first}.")
  return by_count[kernels]


def check_state_dict(shapes, arch: str, source: str, *,
                     classifier: bool) -> None:
  """UserError listing missing, unexpected and wrong-shaped keys of `arch`."""
  found = state_dicts.problems(shapes,
                               expected_shapes(arch, classifier=classifier))
  if not found:
    return
  message = f"{source} is not torchvision's {arch} weights: " + "; ".join(
      found) + "."
  try:
    other = infer_arch(shapes, source)
  except UserError:
    other = None
  if other and other != arch:
    message += f" It holds {other}'s layers: use --arch {other}."
  raise UserError(f"{message} Convert torchvision's {TORCH_FILES[arch]} with "
                  "`python -m cnnjax.nets.convert_vgg`.")


def missing_file_message(arch: str, path: str) -> str:
  return (f"{TITLES[arch]} weights not found: {path}. Convert torchvision's "
          "once (needs PyTorch, on any machine):\n"
          f"  wget {TORCH_URL}{TORCH_FILES[arch]}\n"
          f"  python -m cnnjax.nets.convert_vgg --torch_file "
          f"{TORCH_FILES[arch]} --out {path}\n"
          f"Then pass {arch}:<file.npz> or set {WEIGHTS_ENV[arch]}; or use "
          f"{arch}:random, random weights scaled as in He, Wang & Hopcroft "
          "2016, which need no file.")


def load_weights(path: str, arch: str) -> dict[str, dict[str, jax.Array]]:
  """{conv name: {"kernel": HWIO, "bias"}} from a converted .npz file."""
  arrays = state_dicts.read_npz(
      path, missing_message=missing_file_message(arch, path),
      weights=f"{TITLES[arch]} weights", converter="cnnjax.nets.convert_vgg")
  # A file of another make may keep the classifier: unused here.
  arrays = {key: value for key, value in arrays.items()
            if not key.startswith("classifier.")}
  check_state_dict({key: value.shape for key, value in arrays.items()}, arch,
                   path, classifier=False)
  weights = {}
  for name, index, _, _ in _convs(arch):
    kernel, bias = (state_dicts.finite_float32(arrays[key], path, key)
                    for key in (f"features.{index}.weight",
                                f"features.{index}.bias"))
    weights[name] = {"kernel": jnp.asarray(kernel.transpose(2, 3, 1, 0)),
                     "bias": jnp.asarray(bias)}
  return weights


def calibration_images(count: int = 4, size: int = 128) -> np.ndarray:
  """Fixed RGB images [count, size, size, 3] in [0, 1] with natural images'
  1/f amplitude spectrum: white noise filtered by 1/f, a luminance field
  shared by the channels plus weaker colour fields, at ImageNet's mean and
  contrast."""
  rng = np.random.default_rng(CALIBRATION_SEED)
  frequencies = np.fft.fftfreq(size)
  radius = np.hypot(*np.meshgrid(frequencies, frequencies, indexing="ij"))
  radius[0, 0] = np.inf  # no constant component: the mean is set below
  noise = rng.standard_normal((count, 3, size, size))
  fields = np.fft.ifft2(np.fft.fft2(noise) / radius).real
  fields /= fields.std(axis=(2, 3), keepdims=True)
  luminance, red_green, blue_yellow = fields[:, 0], fields[:, 1], fields[:, 2]
  rgb = np.stack([luminance + 0.3 * red_green + 0.1 * blue_yellow,
                  luminance - 0.3 * red_green + 0.1 * blue_yellow,
                  luminance - 0.3 * blue_yellow], axis=-1)
  return np.clip(0.45 + 0.22 * rgb, 0, 1).astype(np.float32)


def _round(value: float) -> float:
  return float(f"{value:.{SCALE_DIGITS - 1}e}")


def he_normal_weights(arch: str, seed: int
                      ) -> dict[str, dict[str, np.ndarray]]:
  """Kernels N(0, 2 / fan_in) (He et al. 2015), zero biases; conv i drawn
  by numpy's default_rng([seed, i]), the same bits on every machine."""
  weights = {}
  for i, (name, _, channels_in, channels_out) in enumerate(_convs(arch)):
    kernel = np.random.default_rng([seed, i]).standard_normal(
        (3, 3, channels_in, channels_out), dtype=np.float32)
    weights[name] = {
        "kernel": kernel * np.float32(np.sqrt(2 / (9 * channels_in))),
        "bias": np.zeros(channels_out, np.float32)}
  return weights


def random_weights(arch: str, seed: int) -> dict[str, dict[str, jax.Array]]:
  """`he_normal_weights` with each kernel scaled so that its ReLU's mean
  activation on `calibration_images` is 1 (see the module docstring)."""
  weights = he_normal_weights(arch, seed)
  x = normalise(jnp.asarray(calibration_images()) * 2 - 1)
  for name in LAYERS[arch]:
    if name.startswith("pool"):
      x = _pool(x, "max")
    elif name in weights:
      out, mean = _conv_relu_mean(x, weights[name]["kernel"])
      scale = _round(1 / float(mean))
      weights[name] = {"kernel": jnp.asarray(weights[name]["kernel"] *
                                             np.float32(scale)),
                       "bias": jnp.asarray(weights[name]["bias"])}
      # Positive homogeneity (zero bias): relu(conv(x, c k)) = c relu(...).
      x = out * scale
  return weights


@jax.jit
def _conv_relu_mean(x: jax.Array, kernel: jax.Array):
  out = jax.nn.relu(_conv(x, {"kernel": kernel, "bias": 0.0}))
  return out, jnp.mean(out)


@functools.cache
def _cached_random_weights(arch: str, seed: int):
  return random_weights(arch, seed)


# ----------------------------------------------------------------------------
# As a cnnjax feature network.

WEIGHTS_ENV = {arch: f"CNNJAX_{arch.upper()}_WEIGHTS" for arch in BLOCKS}
RANDOM = "random"


def default_path(arch: str, dataset: str, data_dir: str) -> str:
  del dataset  # one network for every dataset
  return os.environ.get(WEIGHTS_ENV[arch]) or os.path.join(
      data_dir, WEIGHTS_DIR, f"{arch}.npz")


def special_path(path: str) -> str | None:
  """"random" / "random:<seed>" as "random:<seed>"; None for a file path."""
  if path != RANDOM and not path.startswith(RANDOM + ":"):
    return None
  seed = path.partition(":")[2] or "0"
  if not seed.isdigit():
    raise UserError(f"{path!r}: the seed of a random VGG is an integer >= 0, "
                    "as in vgg19:random:3.")
  return f"{RANDOM}:{int(seed)}"


def load_net(name: str, path: str, dataset: str) -> FeatureNet:
  """The VGG `name` names ("vgg19:/abs/file.npz", "vgg19:random:0"), taking
  images as cnnjax's models make them; one network for every dataset."""
  del dataset
  arch = name.partition(":")[0]
  if special_path(path) is not None:
    seed = int(path.partition(":")[2])
    weights = _cached_random_weights(arch, seed)
    digest = trees.tree_sha256(weights)
    source = f"random weights, seed {seed}, scaled as in He et al. 2016"
  else:
    weights = load_weights(path, arch)
    digest = state_dicts.file_sha256(path)
    source = "torchvision's weights"
  return FeatureNet(
      name=name, kind=arch, digest=digest, weights=weights, apply=apply,
      layers=LAYERS[arch], features_layer="pool5", logits_layer=None,
      num_classes=0, label_dataset=None,
      input_description=f"{TITLES[arch]} ({source}): (x + 1) / 2, gray -> "
                        "RGB, ImageNet mean/std; max pooling unless "
                        "apply(..., pool='avg')")
