"""pytorch-fid's Inception v3 in NNX: layout, weights round trip, references.

No pretrained weights here (no internet, no torch): a random state dict with
pytorch-fid's key names and shapes goes through the converter, the .npz and
the loader; single layers, pools and the resize are checked against NumPy
ports of what PyTorch computes. The full network is compiled once (batch 2).
"""

import hashlib
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from cnnjax.errors import UserError
from cnnjax.nets import convert_inception
from cnnjax.nets import inception

# Shapes read off pytorch-fid's pt_inception-2015-12-05 state dict, written
# out by hand so that a wrong block width in the module cannot also be
# "expected" by a list generated from the module.
KNOWN_PYTORCH_FID_SHAPES = {
    "Conv2d_1a_3x3.conv.weight": (32, 3, 3, 3),
    "Conv2d_1a_3x3.bn.running_var": (32,),
    "Conv2d_4a_3x3.conv.weight": (192, 80, 3, 3),
    "Mixed_5b.branch_pool.conv.weight": (32, 192, 1, 1),
    "Mixed_5c.branch1x1.conv.weight": (64, 256, 1, 1),
    "Mixed_6a.branch3x3.conv.weight": (384, 288, 3, 3),
    "Mixed_6b.branch7x7_2.conv.weight": (128, 128, 1, 7),
    "Mixed_6e.branch7x7dbl_2.conv.weight": (192, 192, 7, 1),
    "Mixed_7a.branch3x3_2.conv.weight": (320, 192, 3, 3),
    "Mixed_7b.branch1x1.conv.weight": (320, 1280, 1, 1),
    "Mixed_7b.branch3x3dbl_1.conv.weight": (448, 1280, 1, 1),
    "Mixed_7c.branch3x3_2b.conv.weight": (384, 384, 3, 1),
    "Mixed_7c.branch_pool.conv.weight": (192, 2048, 1, 1),
    "fc.weight": (1008, 2048),
    "fc.bias": (1008,),
}
NUM_CONVS = 94  # 5 stem + 3x7 (A) + 4 (B) + 4x10 (C) + 6 (D) + 2x9 (E)


def random_state_dict(seed: int = 0) -> dict[str, np.ndarray]:
  """pytorch-fid-shaped weights that keep activations O(1) through 94 convs."""
  rng = np.random.default_rng(seed)
  state = {}
  for key, shape in inception.expected_shapes().items():
    if key.endswith("conv.weight"):
      value = rng.standard_normal(shape) * np.sqrt(2 / np.prod(shape[1:]))
    elif key.endswith(("running_var", "bn.weight")):
      value = rng.uniform(0.5, 1.5, shape)
    elif key == "fc.weight":
      value = rng.standard_normal(shape) / np.sqrt(shape[1])
    else:  # biases and running means
      value = 0.1 * rng.standard_normal(shape)
    state[key] = value.astype(np.float32)
    if key.endswith("bn.running_var"):  # PyTorch >= 0.4 saves these too
      state[key.replace("running_var", "num_batches_tracked")] = np.array(7)
  return state


@pytest.fixture(scope="module")
def state_dict():
  return random_state_dict()


@pytest.fixture(scope="module")
def weights_file(state_dict, tmp_path_factory):
  path = str(tmp_path_factory.mktemp("inception") / "inception_fid.npz")
  convert_inception.write_npz(convert_inception.convert_state_dict(state_dict),
                              path)
  return path


@pytest.fixture(scope="module")
def model(weights_file):
  return inception.load_inception_weights(weights_file)


@pytest.fixture(scope="module")
def images():
  return np.random.default_rng(1).integers(0, 256, (2, 32, 32, 3), np.uint8)


@pytest.fixture(scope="module")
def outputs(model, images):
  """The one compile of the full network: uint8 [2, 32, 32, 3] input."""
  return tuple(np.asarray(a) for a in model.features_and_logits(images))


def test_expected_keys_match_pytorch_fid(state_dict):
  shapes = inception.expected_shapes()
  for key, shape in KNOWN_PYTORCH_FID_SHAPES.items():
    assert shapes[key] == shape, key
  assert len(shapes) == NUM_CONVS * 5 + 2  # conv + 4 bn tensors each; fc
  assert not any("AuxLogits" in key for key in shapes)
  assert set(state_dict) - set(shapes) == {
      key for key in state_dict if key.endswith("num_batches_tracked")}


def test_weights_are_transposed_to_flax_layouts(model, state_dict):
  # A 1x7 kernel: swapping H and W in the transpose would fail here.
  key = "Mixed_6b.branch7x7_2.conv.weight"
  np.testing.assert_array_equal(model.Mixed_6b.branch7x7_2.conv.kernel[...],
                                state_dict[key].transpose(2, 3, 1, 0))
  np.testing.assert_array_equal(model.fc.kernel[...],
                                state_dict["fc.weight"].T)
  np.testing.assert_array_equal(
      model.Mixed_7c.branch_pool.bn.var[...],
      state_dict["Mixed_7c.branch_pool.bn.running_var"])
  assert model.Mixed_7b.pool == "avg" and model.Mixed_7c.pool == "max"


def test_features_and_logits(model, images, outputs):
  features, logits = outputs
  assert features.shape == (2, 2048) and logits.shape == (2, 1008)
  assert np.all(np.isfinite(features)) and np.all(np.isfinite(logits))
  assert np.all(features >= 0)  # a mean of ReLU outputs
  assert not np.allclose(features[0], features[1])  # depends on the image
  # Same shape, so the same compiled program: deterministic and cheap.
  np.testing.assert_array_equal(model.features(images), features)
  np.testing.assert_array_equal(model.logits(images), logits)
  np.testing.assert_array_equal(model.bound()(images)[0], features)
  as_float = images.astype(np.float32) / 255
  np.testing.assert_allclose(model.features(as_float), features,
                             rtol=1e-5, atol=1e-4)
  probabilities = np.asarray(model.probabilities(images))
  np.testing.assert_allclose(probabilities.sum(axis=1), 1, rtol=1e-5)


def test_gray_images_are_repeated_to_rgb(model, images, outputs):
  gray = images[..., :1]
  np.testing.assert_array_equal(model.features(gray),
                                model.features(np.repeat(gray, 3, axis=-1)))


def test_input_checks():
  with pytest.raises(ValueError, match=r"\(x \+ 1\) / 2"):
    inception.prepare_images(-np.ones((1, 8, 8, 3), np.float32))
  with pytest.raises(ValueError, match="uint8"):
    inception.prepare_images(np.ones((1, 8, 8, 3), np.int32))
  with pytest.raises(ValueError, match="1 or 3"):
    inception.prepare_images(np.ones((1, 8, 8, 4), np.uint8))


def conv_bn_relu_reference(x, state_dict, prefix, stride=1, padding=(0, 0)):
  """PyTorch's Conv2d (OIHW, no bias) + eval BatchNorm2d + ReLU, in float64."""
  weight = state_dict[f"{prefix}.conv.weight"].astype(np.float64)
  out_features, _, kernel_h, kernel_w = weight.shape
  x = np.pad(x.astype(np.float64),
             ((0, 0), (padding[0],) * 2, (padding[1],) * 2, (0, 0)))
  out_h = (x.shape[1] - kernel_h) // stride + 1
  out_w = (x.shape[2] - kernel_w) // stride + 1
  out = np.zeros((x.shape[0], out_h, out_w, out_features))
  for i in range(kernel_h):
    for j in range(kernel_w):
      patch = x[:, i:i + stride * out_h:stride, j:j + stride * out_w:stride]
      out += patch @ weight[:, :, i, j].T
  bn = {name: state_dict[f"{prefix}.bn.{name}"].astype(np.float64)
        for name in ("weight", "bias", "running_mean", "running_var")}
  out = ((out - bn["running_mean"]) / np.sqrt(bn["running_var"] + 1e-3) *
         bn["weight"] + bn["bias"])
  return np.maximum(out, 0)


@pytest.mark.parametrize("layer, in_features, stride, padding", [
    ("Conv2d_1a_3x3", 3, 2, (0, 0)),  # the stem's first conv
    ("Conv2d_2b_3x3", 32, 1, (1, 1)),
    ("Mixed_6b.branch7x7_2", 128, 1, (0, 3)),  # 1x7
    ("Mixed_7c.branch3x3_2b", 384, 1, (1, 0)),  # 3x1
])
def test_single_layer_matches_numpy(model, state_dict, layer, in_features,
                                    stride, padding):
  x = np.random.default_rng(2).standard_normal((2, 9, 11, in_features))
  module = model
  for name in layer.split("."):
    module = getattr(module, name)
  expected = conv_bn_relu_reference(x, state_dict, layer, stride, padding)
  actual = np.asarray(module(jnp.asarray(x, jnp.float32)))
  assert actual.shape == expected.shape
  np.testing.assert_allclose(actual, expected, rtol=1e-4, atol=1e-4)


def torch_bilinear_reference(images: np.ndarray, size: int) -> np.ndarray:
  """NumPy port of F.interpolate(mode="bilinear", align_corners=False), NHWC."""

  def along(x, axis):
    in_size = x.shape[axis]
    source = (np.arange(size) + 0.5) * (in_size / size) - 0.5
    source = np.maximum(source, 0)  # PyTorch clamps negative coordinates
    low = source.astype(np.int64)
    high = np.minimum(low + 1, in_size - 1)
    weight = (source - low).reshape([-1 if a == axis else 1
                                     for a in range(x.ndim)])
    return (np.take(x, low, axis) * (1 - weight) +
            np.take(x, high, axis) * weight)

  return along(along(images.astype(np.float64), 1), 2)


def test_bilinear_reference_by_hand():
  # [0, 1] -> 4 pixels: sources -0.25 (clamped to 0), 0.25, 0.75, 1.25.
  x = np.array([0.0, 1.0]).reshape(1, 2, 1, 1) * np.ones((1, 1, 2, 1))
  np.testing.assert_allclose(torch_bilinear_reference(x, 4)[0, :, 0, 0],
                             [0, 0.25, 0.75, 1])


@pytest.mark.parametrize("shape, size", [
    ((2, 5, 7, 3), 11), ((1, 13, 9, 1), 4), ((1, 32, 32, 3), 299),
    ((1, 28, 28, 1), 299), ((1, 310, 300, 3), 299), ((1, 299, 299, 3), 299)])
def test_resize_matches_pytorch_bilinear(shape, size):
  x = np.random.default_rng(3).uniform(size=shape).astype(np.float32)
  # float32 source coordinates are off by up to ~300 * 6e-8 pixels, so
  # pixels move by up to ~3e-5 (PyTorch's float32 path rounds too); another
  # convention (align_corners=True) is off by up to ~0.4 at 32 -> 299.
  np.testing.assert_allclose(inception.resize_bilinear(jnp.asarray(x), size),
                             torch_bilinear_reference(x, size), atol=5e-5)


def test_pools_match_pytorch():
  x = np.random.default_rng(4).standard_normal((1, 4, 5, 2)) - 10  # all < 0
  padded = np.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)), constant_values=np.nan)
  windows = np.stack([padded[:, i:i + 4, j:j + 5]
                      for i in range(3) for j in range(3)])
  # count_include_pad=False: the mean of the in-image pixels only.
  np.testing.assert_allclose(inception.avg_pool_exclude_pad(jnp.asarray(x)),
                             np.nanmean(windows, axis=0), rtol=1e-6)
  # Padding never wins a max, even when every pixel is negative.
  np.testing.assert_allclose(
      inception.max_pool(jnp.asarray(x), stride=1, pad=1),
      np.nanmax(windows, axis=0), rtol=1e-6)
  np.testing.assert_allclose(  # 4x5 -> 1x2 windows at columns 0:3 and 2:5
      inception.max_pool(jnp.asarray(x), stride=2),
      np.stack([x[:, :3, :3].max(axis=(1, 2)), x[:, :3, 2:].max(axis=(1, 2))],
               axis=1)[:, None])


def test_bad_state_dict_is_listed(state_dict, tmp_path):
  broken = dict(state_dict)
  del broken["Mixed_6c.branch1x1.bn.running_mean"]
  broken["Conv2d_1a_3x3.conv.weight"] = np.zeros((32, 1, 3, 3), np.float32)
  broken["AuxLogits.fc.weight"] = np.zeros((1000, 768), np.float32)
  path = str(tmp_path / "broken.npz")
  np.savez(path, **broken)
  with pytest.raises(UserError) as error:
    inception.load_inception_weights(path)
  message = str(error.value)
  assert "missing keys: Mixed_6c.branch1x1.bn.running_mean" in message
  assert "unexpected keys: AuxLogits.fc.weight" in message
  assert ("wrong shapes: Conv2d_1a_3x3.conv.weight: (32, 1, 3, 3), "
          "expected (32, 3, 3, 3)") in message
  assert path in message


def test_only_the_first_problems_are_listed(tmp_path):
  path = str(tmp_path / "one_key.npz")
  np.savez(path, **{"fc.bias": np.zeros(1008, np.float32)})
  with pytest.raises(UserError, match=r"\.\.\. \(471 in all\)"):
    inception.load_inception_weights(path)


def test_non_finite_weights_are_refused(state_dict, tmp_path):
  bad = dict(state_dict, **{"fc.bias": np.full(1008, np.nan, np.float32)})
  path = str(tmp_path / "nan.npz")
  np.savez(path, **bad)
  with pytest.raises(UserError, match="fc.bias must be finite"):
    inception.load_inception_weights(path)


def test_unreadable_files(weights_file, tmp_path):
  not_npz = tmp_path / "weights.npz"
  not_npz.write_text("not an archive")
  truncated = tmp_path / "truncated.npz"
  with open(weights_file, "rb") as file:
    truncated.write_bytes(file.read(1 << 20))
  npy = tmp_path / "array.npy"
  np.save(npy, np.zeros(3))
  for path in (not_npz, truncated, npy):
    with pytest.raises(UserError, match=f"Cannot read .*{path.name}"):
      inception.load_inception_weights(str(path))


def test_missing_file_says_how_to_get_weights(tmp_path):
  path = str(tmp_path / "inception_fid.npz")
  with pytest.raises(UserError) as error:
    inception.load_inception_weights(path)
  message = str(error.value)
  assert path in message and inception.WEIGHTS_URL in message
  assert ("python -m cnnjax.nets.convert_inception --torch_file "
          "pt_inception-2015-12-05-6726825d.pth") in message


def test_converter_refuses_torchvision_imagenet_weights(state_dict):
  torchvision_like = {k: v for k, v in state_dict.items()
                      if not k.startswith("fc.")}
  torchvision_like["fc.weight"] = np.zeros((1000, 2048), np.float32)
  torchvision_like["fc.bias"] = np.zeros(1000, np.float32)
  torchvision_like["AuxLogits.conv0.conv.weight"] = np.zeros((128, 768, 1, 1))
  with pytest.raises(UserError, match="fc.weight: \\(1000, 2048\\)"):
    convert_inception.convert_state_dict(torchvision_like)


def test_converter_keeps_names_and_drops_counters(state_dict):
  arrays = convert_inception.convert_state_dict(state_dict)
  assert set(arrays) == set(inception.expected_shapes())
  assert all(a.dtype == np.float32 for a in arrays.values())
  np.testing.assert_array_equal(arrays["Conv2d_1a_3x3.conv.weight"],
                                state_dict["Conv2d_1a_3x3.conv.weight"])


def test_converter_without_torch(monkeypatch, capsys, tmp_path):
  monkeypatch.setitem(sys.modules, "torch", None)  # makes `import torch` fail
  out = tmp_path / "inception_fid.npz"
  code = convert_inception.main(["--torch_file", "x.pth", "--out", str(out)])
  assert code == 2
  assert "needs PyTorch" in capsys.readouterr().err
  assert not out.exists()


def test_inception_extractor_by_name(weights_file, images, outputs, tmp_path,
                                     monkeypatch):
  """`inception_v3:<file>` (and $CNNJAX_INCEPTION_WEIGHTS) give the network
  of that file, fed [-1, 1] images as (x + 1) / 2, like pytorch-fid."""
  from cnnjax.evaluation import extractors
  extractor = extractors.load(f"inception_v3:{weights_file}", dataset="d",
                              data_dir=str(tmp_path))
  assert extractor.num_classes == 1008
  assert extractor.label_dataset is None  # no class accuracy from ImageNet
  scaled = images.astype(np.float32) / 127.5 - 1
  features, logits = jax.jit(extractor.apply)(extractor.weights, scaled)
  assert features.shape == (2, 2048)
  np.testing.assert_allclose(features, outputs[0], rtol=1e-4, atol=1e-5)
  np.testing.assert_allclose(logits, outputs[1], rtol=1e-4, atol=1e-4)
  monkeypatch.setenv(inception.WEIGHTS_ENV, weights_file)
  same = extractors.load("inception_v3", dataset="d", data_dir=str(tmp_path))
  assert same.digest == extractor.digest
  with open(weights_file, "rb") as f:
    assert same.digest == hashlib.sha256(f.read()).hexdigest()


def test_inception_named_layers(weights_file, images, outputs, tmp_path):
  """The feature-network API: activations of named layers, the same
  network as FID's features (pool3 is Mixed_7c's spatial mean)."""
  from cnnjax import nets
  net = nets.load(f"inception_v3:{weights_file}", dataset="d",
                  data_dir=str(tmp_path))
  assert net.layers == inception.LAYERS and net.features_layer == "pool3"
  scaled = images.astype(np.float32) / 127.5 - 1
  layers = jax.jit(net.apply, static_argnums=2)(
      net.weights, scaled, ("Mixed_5b", "Mixed_7c", "pool3"))
  assert layers["Mixed_5b"].shape == (2, 35, 35, 256)
  assert layers["Mixed_7c"].shape == (2, 8, 8, 2048)
  np.testing.assert_allclose(layers["pool3"],
                             layers["Mixed_7c"].mean(axis=(1, 2)), rtol=1e-6)
  np.testing.assert_allclose(layers["pool3"], outputs[0], rtol=1e-4,
                             atol=1e-5)
  with pytest.raises(ValueError, match="no layers"):
    net.apply(net.weights, scaled, ("conv5_1",))
