"""The Inception v3 network of pytorch-fid, for FID and the Inception Score,
with the activations of its named layers (`LAYERS`).

Published FIDs come from TensorFlow's 2015-12-05 Inception graph; pytorch-fid
ports it as torchvision's Inception v3 with FID-specific blocks, and so must
we to report comparable numbers:

- FIDInceptionA / FIDInceptionC / FIDInceptionE_1 (Mixed_5b-d, 6b-e, 7b) pool
  their `branch_pool` with a 3x3 average that excludes the padding from the
  count (TF's behaviour; torchvision counts it);
- FIDInceptionE_2 (Mixed_7c) max-pools its `branch_pool` instead;
- the fc layer has 1008 classes (TF's graph), batch norm eps is 0.001;
- inputs in [0, 1] are resized to 299x299 with PyTorch's bilinear,
  align_corners=False (no antialiasing), then scaled to [-1, 1];
- features are the 2048-d global average after Mixed_7c ("pool3").

Layout is NHWC; batch norm always uses the running statistics (inference
only). Weights come from pytorch-fid's `pt_inception-2015-12-05` state dict,
converted to .npz by `python -m cnnjax.nets.convert_inception`; module and
attribute names mirror the PyTorch ones so each state-dict key names a path.
"""

import functools
import os
from collections.abc import Callable, Mapping

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from cnnjax.errors import UserError
from cnnjax.models import layers as layers_lib
from cnnjax.nets import state_dicts
from cnnjax.nets.base import WEIGHTS_DIR, FeatureNet

INPUT_SIZE = 299
FEATURE_DIM = 2048
NUM_CLASSES = 1008
BN_EPSILON = 1e-3
WEIGHTS_URL = ("https://github.com/mseitzer/pytorch-fid/releases/download/"
               "fid_weights/pt_inception-2015-12-05-6726825d.pth")
# Buffers PyTorch may save that inference does not need.
IGNORED_KEY_SUFFIXES = state_dicts.IGNORED_KEY_SUFFIXES
# Full float32 convolutions: on GPUs JAX's default precision may run float32
# convolutions as TF32 / bf16 passes, and features for a published metric
# should not depend on the accelerator.
PRECISION = jax.lax.Precision.HIGHEST

_ALL = ((0, 0),)  # no padding on the batch or channel axis
MIXED = ("Mixed_5b", "Mixed_5c", "Mixed_5d", "Mixed_6a", "Mixed_6b",
         "Mixed_6c", "Mixed_6d", "Mixed_6e", "Mixed_7a", "Mixed_7b",
         "Mixed_7c")
# The named layers `activations` returns, input to output (torchvision's
# names; MaxPool_* are the two stem poolings, pool3 the FID features).
LAYERS = ("Conv2d_1a_3x3", "Conv2d_2a_3x3", "Conv2d_2b_3x3", "MaxPool_1",
          "Conv2d_3b_1x1", "Conv2d_4a_3x3", "MaxPool_2", *MIXED, "pool3",
          "logits")


def _pool_padding(pad: int):
  return _ALL + ((pad, pad), (pad, pad)) + _ALL


def max_pool(x: jax.Array, stride: int, pad: int = 0) -> jax.Array:
  """3x3 max pool; padding never wins the max (PyTorch pads with -inf)."""
  return jax.lax.reduce_window(x, jnp.array(-jnp.inf, x.dtype), jax.lax.max,
                               (1, 3, 3, 1), (1, stride, stride, 1),
                               _pool_padding(pad))


def avg_pool_exclude_pad(x: jax.Array) -> jax.Array:
  """3x3, stride 1, pad 1 average over the in-image pixels only.

  PyTorch's avg_pool2d(..., count_include_pad=False), which pytorch-fid uses
  to match TF: a corner averages 4 pixels, an edge 6, the inside 9.
  """
  window, strides, padding = (1, 3, 3, 1), (1, 1, 1, 1), _pool_padding(1)
  zero = jnp.array(0, x.dtype)
  sums = jax.lax.reduce_window(x, zero, jax.lax.add, window, strides, padding)
  ones = jnp.ones((1,) + x.shape[1:3] + (1,), x.dtype)
  counts = jax.lax.reduce_window(ones, zero, jax.lax.add, window, strides,
                                 padding)
  return sums / counts


class BasicConv(nnx.Module):
  """Conv (no bias) -> batch norm (running statistics, eps 1e-3) -> ReLU."""

  def __init__(self, in_features: int, out_features: int, kernel_size,
               stride: int = 1, padding=0, *, rngs: nnx.Rngs):
    kernel_size = ((kernel_size, kernel_size) if isinstance(kernel_size, int)
                   else tuple(kernel_size))
    pad_h, pad_w = (padding, padding) if isinstance(padding, int) else padding
    self.conv = nnx.Conv(in_features, out_features, kernel_size,
                         strides=stride,
                         padding=((pad_h, pad_h), (pad_w, pad_w)),
                         use_bias=False, precision=PRECISION, rngs=rngs)
    self.bn = nnx.BatchNorm(out_features, use_running_average=True,
                            epsilon=BN_EPSILON, rngs=rngs)

  def __call__(self, x: jax.Array) -> jax.Array:
    return nnx.relu(self.bn(self.conv(x)))


class InceptionA(nnx.Module):
  """Mixed_5b/c/d (FIDInceptionA): 35x35, 1x1 | 5x5 | 3x3-3x3 | avg-pool."""

  def __init__(self, in_features: int, pool_features: int, *, rngs: nnx.Rngs):
    self.branch1x1 = BasicConv(in_features, 64, 1, rngs=rngs)
    self.branch5x5_1 = BasicConv(in_features, 48, 1, rngs=rngs)
    self.branch5x5_2 = BasicConv(48, 64, 5, padding=2, rngs=rngs)
    self.branch3x3dbl_1 = BasicConv(in_features, 64, 1, rngs=rngs)
    self.branch3x3dbl_2 = BasicConv(64, 96, 3, padding=1, rngs=rngs)
    self.branch3x3dbl_3 = BasicConv(96, 96, 3, padding=1, rngs=rngs)
    self.branch_pool = BasicConv(in_features, pool_features, 1, rngs=rngs)

  def __call__(self, x: jax.Array) -> jax.Array:
    branch5x5 = self.branch5x5_2(self.branch5x5_1(x))
    branch3x3dbl = self.branch3x3dbl_3(
        self.branch3x3dbl_2(self.branch3x3dbl_1(x)))
    branch_pool = self.branch_pool(avg_pool_exclude_pad(x))
    return jnp.concatenate(
        [self.branch1x1(x), branch5x5, branch3x3dbl, branch_pool], axis=-1)


class InceptionB(nnx.Module):
  """Mixed_6a: 35x35 -> 17x17, 3x3/2 | 3x3-3x3/2 | max-pool/2."""

  def __init__(self, in_features: int, *, rngs: nnx.Rngs):
    self.branch3x3 = BasicConv(in_features, 384, 3, stride=2, rngs=rngs)
    self.branch3x3dbl_1 = BasicConv(in_features, 64, 1, rngs=rngs)
    self.branch3x3dbl_2 = BasicConv(64, 96, 3, padding=1, rngs=rngs)
    self.branch3x3dbl_3 = BasicConv(96, 96, 3, stride=2, rngs=rngs)

  def __call__(self, x: jax.Array) -> jax.Array:
    branch3x3dbl = self.branch3x3dbl_3(
        self.branch3x3dbl_2(self.branch3x3dbl_1(x)))
    return jnp.concatenate(
        [self.branch3x3(x), branch3x3dbl, max_pool(x, stride=2)], axis=-1)


class InceptionC(nnx.Module):
  """Mixed_6b-e (FIDInceptionC): 17x17, factorized 7x7 branches | avg-pool."""

  def __init__(self, in_features: int, channels_7x7: int, *, rngs: nnx.Rngs):
    c7 = channels_7x7
    self.branch1x1 = BasicConv(in_features, 192, 1, rngs=rngs)
    self.branch7x7_1 = BasicConv(in_features, c7, 1, rngs=rngs)
    self.branch7x7_2 = BasicConv(c7, c7, (1, 7), padding=(0, 3), rngs=rngs)
    self.branch7x7_3 = BasicConv(c7, 192, (7, 1), padding=(3, 0), rngs=rngs)
    self.branch7x7dbl_1 = BasicConv(in_features, c7, 1, rngs=rngs)
    self.branch7x7dbl_2 = BasicConv(c7, c7, (7, 1), padding=(3, 0), rngs=rngs)
    self.branch7x7dbl_3 = BasicConv(c7, c7, (1, 7), padding=(0, 3), rngs=rngs)
    self.branch7x7dbl_4 = BasicConv(c7, c7, (7, 1), padding=(3, 0), rngs=rngs)
    self.branch7x7dbl_5 = BasicConv(c7, 192, (1, 7), padding=(0, 3), rngs=rngs)
    self.branch_pool = BasicConv(in_features, 192, 1, rngs=rngs)

  def __call__(self, x: jax.Array) -> jax.Array:
    branch7x7 = self.branch7x7_3(self.branch7x7_2(self.branch7x7_1(x)))
    branch7x7dbl = x
    for layer in (self.branch7x7dbl_1, self.branch7x7dbl_2,
                  self.branch7x7dbl_3, self.branch7x7dbl_4,
                  self.branch7x7dbl_5):
      branch7x7dbl = layer(branch7x7dbl)
    branch_pool = self.branch_pool(avg_pool_exclude_pad(x))
    return jnp.concatenate(
        [self.branch1x1(x), branch7x7, branch7x7dbl, branch_pool], axis=-1)


class InceptionD(nnx.Module):
  """Mixed_7a: 17x17 -> 8x8, 1x1-3x3/2 | 1x1-1x7-7x1-3x3/2 | max-pool/2."""

  def __init__(self, in_features: int, *, rngs: nnx.Rngs):
    self.branch3x3_1 = BasicConv(in_features, 192, 1, rngs=rngs)
    self.branch3x3_2 = BasicConv(192, 320, 3, stride=2, rngs=rngs)
    self.branch7x7x3_1 = BasicConv(in_features, 192, 1, rngs=rngs)
    self.branch7x7x3_2 = BasicConv(192, 192, (1, 7), padding=(0, 3), rngs=rngs)
    self.branch7x7x3_3 = BasicConv(192, 192, (7, 1), padding=(3, 0), rngs=rngs)
    self.branch7x7x3_4 = BasicConv(192, 192, 3, stride=2, rngs=rngs)

  def __call__(self, x: jax.Array) -> jax.Array:
    branch3x3 = self.branch3x3_2(self.branch3x3_1(x))
    branch7x7x3 = x
    for layer in (self.branch7x7x3_1, self.branch7x7x3_2, self.branch7x7x3_3,
                  self.branch7x7x3_4):
      branch7x7x3 = layer(branch7x7x3)
    return jnp.concatenate([branch3x3, branch7x7x3, max_pool(x, stride=2)],
                           axis=-1)


class InceptionE(nnx.Module):
  """Mixed_7b (FIDInceptionE_1, avg-pool) and Mixed_7c (E_2, max-pool).

  TF's graph max-pools in the last block's pool branch, which is why
  pytorch-fid has two E variants; `pool` picks "avg" or "max".
  """

  def __init__(self, in_features: int, pool: str, *, rngs: nnx.Rngs):
    if pool not in ("avg", "max"):
      raise ValueError(f"pool must be 'avg' or 'max', got {pool!r}.")
    self.pool = pool
    self.branch1x1 = BasicConv(in_features, 320, 1, rngs=rngs)
    self.branch3x3_1 = BasicConv(in_features, 384, 1, rngs=rngs)
    self.branch3x3_2a = BasicConv(384, 384, (1, 3), padding=(0, 1), rngs=rngs)
    self.branch3x3_2b = BasicConv(384, 384, (3, 1), padding=(1, 0), rngs=rngs)
    self.branch3x3dbl_1 = BasicConv(in_features, 448, 1, rngs=rngs)
    self.branch3x3dbl_2 = BasicConv(448, 384, 3, padding=1, rngs=rngs)
    self.branch3x3dbl_3a = BasicConv(384, 384, (1, 3), padding=(0, 1),
                                     rngs=rngs)
    self.branch3x3dbl_3b = BasicConv(384, 384, (3, 1), padding=(1, 0),
                                     rngs=rngs)
    self.branch_pool = BasicConv(in_features, 192, 1, rngs=rngs)

  def __call__(self, x: jax.Array) -> jax.Array:
    branch3x3 = self.branch3x3_1(x)
    branch3x3 = jnp.concatenate(
        [self.branch3x3_2a(branch3x3), self.branch3x3_2b(branch3x3)], axis=-1)
    branch3x3dbl = self.branch3x3dbl_2(self.branch3x3dbl_1(x))
    branch3x3dbl = jnp.concatenate([self.branch3x3dbl_3a(branch3x3dbl),
                                    self.branch3x3dbl_3b(branch3x3dbl)],
                                   axis=-1)
    pooled = (avg_pool_exclude_pad(x) if self.pool == "avg"
              else max_pool(x, stride=1, pad=1))
    return jnp.concatenate(
        [self.branch1x1(x), branch3x3, branch3x3dbl, self.branch_pool(pooled)],
        axis=-1)


def resize_bilinear(images: jax.Array, size: int = INPUT_SIZE) -> jax.Array:
  """[B, H, W, C] -> [B, size, size, C] like PyTorch's bilinear interpolate.

  With antialias=False, jax.image.resize samples at half-pixel centres with a
  2-tap triangle kernel, and renormalizes the weights at the borders, which
  is exactly F.interpolate(mode="bilinear", align_corners=False): both clamp
  source coordinates to the image (tested against a NumPy port).
  """
  if images.shape[1:3] == (size, size):
    return images
  shape = (images.shape[0], size, size, images.shape[3])
  return jax.image.resize(images, shape, method="bilinear", antialias=False)


def prepare_images(images) -> jax.Array:
  """uint8 [0, 255] or float [0, 1] images, RGB or gray -> float32 RGB [0, 1].

  Runs eagerly, outside the jitted network, so uint8 and float batches of one
  shape share a compiled program. Floats outside [0, 1] are refused: generator
  outputs in [-1, 1] would otherwise give a wrong FID without any error.
  """
  images = jnp.asarray(images)
  if images.ndim != 4 or images.shape[-1] not in (1, 3):
    raise ValueError(f"images must be [batch, height, width, 1 or 3], got "
                     f"shape {images.shape}.")
  if images.dtype == jnp.uint8:
    images = images.astype(jnp.float32) / 255
  elif jnp.issubdtype(images.dtype, jnp.floating):
    images = images.astype(jnp.float32)
    low, high = jax.device_get((images.min(), images.max()))
    if not (low >= 0 and high <= 1):  # also catches NaN
      raise ValueError(
          f"float images must lie in [0, 1], got values in [{low}, {high}]; "
          "map generator outputs in [-1, 1] with (x + 1) / 2.")
  else:
    raise ValueError(f"images must be uint8 in [0, 255] or float in [0, 1], "
                     f"got dtype {images.dtype}.")
  if images.shape[-1] == 1:
    images = jnp.repeat(images, 3, axis=-1)
  return images


class InceptionV3FID(nnx.Module):
  """pytorch-fid's FID Inception v3: images -> pool3 features and logits.

  Build it with `load_inception_weights`; a freshly constructed one has
  random weights, which is only good for tests.
  """

  def __init__(self, *, rngs: nnx.Rngs):
    self.Conv2d_1a_3x3 = BasicConv(3, 32, 3, stride=2, rngs=rngs)
    self.Conv2d_2a_3x3 = BasicConv(32, 32, 3, rngs=rngs)
    self.Conv2d_2b_3x3 = BasicConv(32, 64, 3, padding=1, rngs=rngs)
    self.Conv2d_3b_1x1 = BasicConv(64, 80, 1, rngs=rngs)
    self.Conv2d_4a_3x3 = BasicConv(80, 192, 3, rngs=rngs)
    self.Mixed_5b = InceptionA(192, pool_features=32, rngs=rngs)
    self.Mixed_5c = InceptionA(256, pool_features=64, rngs=rngs)
    self.Mixed_5d = InceptionA(288, pool_features=64, rngs=rngs)
    self.Mixed_6a = InceptionB(288, rngs=rngs)
    self.Mixed_6b = InceptionC(768, channels_7x7=128, rngs=rngs)
    self.Mixed_6c = InceptionC(768, channels_7x7=160, rngs=rngs)
    self.Mixed_6d = InceptionC(768, channels_7x7=160, rngs=rngs)
    self.Mixed_6e = InceptionC(768, channels_7x7=192, rngs=rngs)
    self.Mixed_7a = InceptionD(768, rngs=rngs)
    self.Mixed_7b = InceptionE(1280, pool="avg", rngs=rngs)
    self.Mixed_7c = InceptionE(2048, pool="max", rngs=rngs)
    self.fc = nnx.Linear(FEATURE_DIM, NUM_CLASSES, precision=PRECISION,
                         rngs=rngs)

  def __call__(self, images: jax.Array) -> tuple[jax.Array, jax.Array]:
    """float32 RGB [B, H, W, 3] in [0, 1] -> (pool3 [B, 2048], logits).

    Traceable (use it inside your own jit); `features` / `logits` add input
    checks, uint8 and gray support, and the jit.
    """
    outputs = self.activations(images, ("pool3", "logits"))
    return outputs["pool3"], outputs["logits"]

  def _stages(self):
    """(name, map) pairs, input to output: the named layers of LAYERS."""
    stages = [("Conv2d_1a_3x3", self.Conv2d_1a_3x3),
              ("Conv2d_2a_3x3", self.Conv2d_2a_3x3),
              ("Conv2d_2b_3x3", self.Conv2d_2b_3x3),
              ("MaxPool_1", lambda x: max_pool(x, stride=2)),
              ("Conv2d_3b_1x1", self.Conv2d_3b_1x1),
              ("Conv2d_4a_3x3", self.Conv2d_4a_3x3),
              ("MaxPool_2", lambda x: max_pool(x, stride=2))]
    stages += [(name, getattr(self, name)) for name in MIXED]
    stages += [("pool3", lambda x: x.mean(axis=(1, 2))),
               ("logits", self.fc)]  # dropout before fc is off at inference
    return stages

  def activations(self, images: jax.Array,
                  layers: tuple[str, ...]) -> dict[str, jax.Array]:
    """float32 RGB [B, H, W, 3] in [0, 1] -> {name: activations} of the named
    `layers` (of LAYERS); computes only up to the deepest one asked for."""
    x = resize_bilinear(images) * 2 - 1  # pytorch-fid's normalize_input
    return layers_lib.named_activations(x, self._stages(), layers,
                                        "Inception v3")

  def features_and_logits(self, images) -> tuple[jax.Array, jax.Array]:
    """uint8 or [0, 1] float [B, H, W, 1|3] -> ([B, 2048], [B, 1008]).

    Jitted; one compile per input shape, shared by uint8 and float.
    """
    return self.bound()(images)

  def bound(self) -> Callable[..., tuple[jax.Array, jax.Array]]:
    """`features_and_logits` with the module split once, for many batches.

    Splitting this module costs ~30 ms of Python per call; the returned
    function uses the weights as they are now.
    """
    graphdef, state = nnx.split(self)
    return lambda images: _forward(graphdef, state, prepare_images(images))

  def features(self, images) -> jax.Array:
    """The 2048-d pool3 features FID, KID and precision/recall use."""
    return self.features_and_logits(images)[0]

  def logits(self, images) -> jax.Array:
    """The 1008-way fc logits (TF's class set) for the Inception Score."""
    return self.features_and_logits(images)[1]

  def probabilities(self, images) -> jax.Array:
    """softmax(logits) over all 1008 classes, as the original IS code does."""
    return jax.nn.softmax(self.logits(images), axis=-1)


@jax.jit
def _forward(graphdef, state, images):
  # One program for features and logits: the fc costs <0.1% of the network,
  # a second compile of it seconds (~3 s at batch 2, ~8 s at 64 on 2 cores).
  return nnx.merge(graphdef, state)(images)


# ----------------------------------------------------------------------------
# PyTorch state dict <-> module.


def _oihw_to_hwio(kernel: np.ndarray) -> np.ndarray:
  return np.transpose(kernel, (2, 3, 1, 0))


def _identity(array: np.ndarray) -> np.ndarray:
  return array


_BN_NAMES = {"weight": "scale", "bias": "bias", "running_mean": "mean",
             "running_var": "var"}


def _torch_parameters(model: InceptionV3FID) -> dict:
  """state-dict name -> (variable, PyTorch shape, PyTorch -> flax layout)."""
  params = {}
  for path, module in nnx.iter_modules(model):
    if not isinstance(module, BasicConv):
      continue
    prefix = ".".join(str(part) for part in path)
    height, width, in_features, out_features = module.conv.kernel.shape
    params[f"{prefix}.conv.weight"] = (
        module.conv.kernel, (out_features, in_features, height, width),
        _oihw_to_hwio)
    for torch_name, flax_name in _BN_NAMES.items():
      variable = getattr(module.bn, flax_name)
      params[f"{prefix}.bn.{torch_name}"] = (
          variable, tuple(variable.shape), _identity)
  params["fc.weight"] = (model.fc.kernel, (NUM_CLASSES, FEATURE_DIM),
                         np.transpose)
  params["fc.bias"] = (model.fc.bias, (NUM_CLASSES,), _identity)
  return params


def _abstract_model() -> InceptionV3FID:
  # Shapes only: no 24M random numbers drawn just to be overwritten.
  return nnx.eval_shape(lambda: InceptionV3FID(rngs=nnx.Rngs(0)))


@functools.cache
def _cached_expected_shapes() -> tuple[tuple[str, tuple[int, ...]], ...]:
  return tuple((name, shape) for name, (_, shape, _)
               in _torch_parameters(_abstract_model()).items())


def expected_shapes() -> dict[str, tuple[int, ...]]:
  """PyTorch state-dict name -> shape, for every weight the network needs."""
  return dict(_cached_expected_shapes())


def check_state_dict(shapes: Mapping[str, tuple[int, ...]], source: str,
                     expected: Mapping[str, tuple[int, ...]] | None = None,
                     max_listed: int = 5) -> None:
  """Raises UserError listing missing, unexpected and wrong-shaped keys.

  `shapes` maps each key of a state dict to its shape; `num_batches_tracked`
  buffers are accepted and ignored.
  """
  expected = expected_shapes() if expected is None else expected
  found = state_dicts.problems(shapes, expected, max_listed)
  if found:
    raise UserError(
        f"{source} is not pytorch-fid's Inception weights "
        f"(pt_inception-2015-12-05): " + "; ".join(found) + ". Convert "
        f"{WEIGHTS_URL.rsplit('/', 1)[1]} with "
        "`python -m cnnjax.nets.convert_inception`.")


def _missing_file_message(path: str) -> str:
  return (f"Inception weights not found: {path}. FID needs pytorch-fid's "
          f"weights, converted once to .npz (needs PyTorch, anywhere):\n"
          f"  wget {WEIGHTS_URL}\n"
          f"  python -m cnnjax.nets.convert_inception "
          f"--torch_file pt_inception-2015-12-05-6726825d.pth --out {path}")


def _read_npz(path: str) -> dict[str, np.ndarray]:
  return state_dicts.read_npz(path, missing_message=_missing_file_message(path),
                              weights="Inception weights",
                              converter="cnnjax.nets.convert_inception")


def load_inception_weights(path: str) -> InceptionV3FID:
  """Reads pytorch-fid's Inception weights (converted .npz) into the network."""
  path = os.fspath(path)
  arrays = _read_npz(path)
  model = _abstract_model()
  params = _torch_parameters(model)
  check_state_dict({key: value.shape for key, value in arrays.items()}, path,
                   expected={name: shape for name, (_, shape, _)
                             in params.items()})
  for name, (variable, _, to_flax) in params.items():
    array = state_dicts.finite_float32(arrays[name], path, name)
    variable.set_value(jnp.asarray(to_flax(array)))
  return model


# ----------------------------------------------------------------------------
# As a cnnjax feature network.

WEIGHTS_FILE = "pt_inception-2015-12-05.npz"
WEIGHTS_ENV = "CNNJAX_INCEPTION_WEIGHTS"


def default_path(dataset: str, data_dir: str) -> str:
  del dataset  # one network for every dataset
  return os.environ.get(WEIGHTS_ENV) or os.path.join(data_dir, WEIGHTS_DIR,
                                                     WEIGHTS_FILE)


def load_net(name: str, path: str, dataset: str) -> FeatureNet:
  """The network with the converted weights at `path`, taking images as
  cnnjax's models make them: (x + 1) / 2 into [0, 1], gray repeated to RGB,
  then the network's own resize (as pytorch-fid); one network for every
  dataset."""
  del dataset
  try:
    model = load_inception_weights(path)
  except UserError as error:
    raise UserError(f"{error}\nThen pass --extractor inception_v3:<file.npz> "
                    f"or set {WEIGHTS_ENV}; or use the offline default, "
                    "--extractor classifier.") from None
  graphdef, weights = nnx.split(model)

  def apply(weights, images, layers):
    images = jnp.clip((images + 1) / 2, 0.0, 1.0)
    if images.shape[-1] == 1:
      images = jnp.repeat(images, 3, axis=-1)
    return nnx.merge(graphdef, weights).activations(images, layers)

  return FeatureNet(
      name=name, kind="inception_v3", digest=state_dicts.file_sha256(path),
      weights=weights, apply=apply, layers=LAYERS, features_layer="pool3",
      logits_layer="logits", num_classes=NUM_CLASSES, label_dataset=None,
      input_description="(x + 1) / 2, gray -> RGB, bilinear resize to 299 "
                        "(pytorch-fid)")
