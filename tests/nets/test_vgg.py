"""VGG-16/19 (torchvision's, convolutional part): layer names and shapes,
the input normalisation against NumPy, the converter and loader on state
dicts written here (no torch, no download), the random-weight network.

The end-to-end check against torchvision itself is
experiments/2026-12-03-vgg-port.
"""

import functools
import os
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from cnnjax import nets
from cnnjax.errors import UserError
from cnnjax.nets import convert_vgg, state_dicts, vgg

# torchvision's `features` indices of the convolutions, read off its state
# dicts and written out by hand, so a wrong block size in the module cannot
# also be "expected" here.
TORCHVISION_CONVS = {
    "vgg16": (0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28),
    "vgg19": (0, 2, 5, 7, 10, 12, 14, 16, 19, 21, 23, 25, 28, 30, 32, 34)}
VGG16_LAYERS = (
    "conv1_1 relu1_1 conv1_2 relu1_2 pool1 conv2_1 relu2_1 conv2_2 relu2_2 "
    "pool2 conv3_1 relu3_1 conv3_2 relu3_2 conv3_3 relu3_3 pool3 conv4_1 "
    "relu4_1 conv4_2 relu4_2 conv4_3 relu4_3 pool4 conv5_1 relu5_1 conv5_2 "
    "relu5_2 conv5_3 relu5_3 pool5").split()
CHANNELS = {"1": 64, "2": 128, "3": 256, "4": 512, "5": 512}


def torchvision_state_dict(arch: str, seed: int = 0) -> dict:
  """torchvision-shaped VGG weights: random He-scaled features (so that
  activations stay O(1)), a zero classifier that takes no memory."""
  rng = np.random.default_rng(seed)
  state = {}
  for key, shape in vgg.expected_shapes(arch, classifier=True).items():
    if key.startswith("classifier."):
      state[key] = np.broadcast_to(np.float32(0), shape)
    elif key.endswith("weight"):
      state[key] = (rng.standard_normal(shape, np.float32) *
                    np.float32(np.sqrt(2 / np.prod(shape[1:]))))
    else:
      state[key] = 0.1 * rng.standard_normal(shape, np.float32)
  return state


@pytest.fixture(scope="module")
def state_dict():
  return torchvision_state_dict("vgg16")


@pytest.fixture(scope="module")
def weights_file(state_dict, tmp_path_factory):
  path = str(tmp_path_factory.mktemp("vgg") / "vgg16.npz")
  state_dicts.write_npz(convert_vgg.convert_state_dict(state_dict), path)
  return path


@pytest.fixture(scope="module")
def net(weights_file):
  return nets.load(f"vgg16:{weights_file}", dataset="d", data_dir="/none")


@pytest.fixture(scope="module")
def images():
  return np.random.default_rng(1).uniform(-1, 1, (2, 64, 48, 3)).astype(
      np.float32)


def test_layer_names():
  assert vgg.LAYERS["vgg16"] == tuple(VGG16_LAYERS)
  names = vgg.LAYERS["vgg19"]
  assert len(names) == 16 * 2 + 5 and names[-2:] == ("relu5_4", "pool5")
  assert names[names.index("conv3_4"):names.index("pool3") + 1] == (
      "conv3_4", "relu3_4", "pool3")
  for arch, indices in TORCHVISION_CONVS.items():
    shapes = vgg.expected_shapes(arch)
    assert sorted(shapes) == sorted(
        f"features.{i}.{part}" for i in indices for part in ("weight", "bias"))
    assert shapes["features.0.weight"] == (64, 3, 3, 3)
    assert shapes[f"features.{indices[-1]}.weight"] == (512, 512, 3, 3)
  assert vgg.expected_shapes("vgg19")["features.10.weight"] == (256, 128, 3, 3)


@pytest.mark.parametrize("arch, size", [("vgg16", 224), ("vgg19", 224),
                                        ("vgg19", 64), ("vgg16", 37)])
def test_shapes_of_every_layer(arch, size):
  """Shapes only (eval_shape): channels 64..512, halved by every pool."""
  weights = vgg.he_normal_weights(arch, 0)
  images = jax.ShapeDtypeStruct((2, size, size + 8, 3), jnp.float32)
  shapes = jax.eval_shape(
      functools.partial(vgg.apply, layers=vgg.LAYERS[arch]), weights, images)
  assert set(shapes) == set(vgg.LAYERS[arch])
  for name, shape in shapes.items():
    block = name[4]  # conv3_1, relu3_1, pool3
    halvings = int(block) - (0 if name.startswith("pool") else 1)
    assert shape.shape == (2, size >> halvings, (size + 8) >> halvings,
                           CHANNELS[block]), name


def test_only_the_layers_asked_for_are_computed(net, images):
  outputs = net.apply(net.weights, images, ("relu2_1", "conv1_1"))
  assert set(outputs) == {"relu2_1", "conv1_1"}
  assert outputs["relu2_1"].shape == (2, 32, 24, 128)
  jaxpr = str(jax.make_jaxpr(net.apply, static_argnums=2)(
      net.weights, images, ("relu2_1",)))
  assert jaxpr.count("conv_general_dilated") == 3  # conv1_1, 1_2, 2_1
  with pytest.raises(ValueError, match="no layers"):
    net.apply(net.weights, images, ("Mixed_5b",))
  with pytest.raises(ValueError, match="pool5 needs images of at least 32"):
    net.apply(net.weights, images[:, :16], ("pool5",))


def conv_relu_reference(x, state_dict, index):
  """PyTorch's Conv2d(3x3, padding 1) + ReLU on NHWC float64, OIHW kernel."""
  weight = state_dict[f"features.{index}.weight"].astype(np.float64)
  padded = np.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
  height, width = x.shape[1:3]
  out = np.zeros(x.shape[:3] + (weight.shape[0],))
  for i in range(3):
    for j in range(3):
      out += padded[:, i:i + height, j:j + width] @ weight[:, :, i, j].T
  return np.maximum(out + state_dict[f"features.{index}.bias"], 0)


def test_first_layers_match_numpy(net, state_dict, images):
  """(x + 1) / 2, ImageNet mean/std, conv+ReLU, then both poolings."""
  x = ((images.astype(np.float64) + 1) / 2 - np.array(vgg.IMAGENET_MEAN)
       ) / np.array(vgg.IMAGENET_STD)
  relu1_1 = conv_relu_reference(x, state_dict, 0)
  relu1_2 = conv_relu_reference(relu1_1, state_dict, 2)
  blocks = relu1_2.reshape(2, 32, 2, 24, 2, 64)
  layers = ("relu1_1", "relu1_2", "pool1")
  outputs = jax.jit(net.apply, static_argnums=2)(net.weights, images, layers)
  np.testing.assert_allclose(outputs["relu1_1"], relu1_1, rtol=1e-5,
                             atol=1e-5)
  np.testing.assert_allclose(outputs["relu1_2"], relu1_2, rtol=1e-5,
                             atol=1e-4)
  np.testing.assert_allclose(outputs["pool1"], blocks.max(axis=(2, 4)),
                             rtol=1e-5, atol=1e-4)
  averaged = net.apply(net.weights, images, ("pool1",), pool="avg")["pool1"]
  np.testing.assert_allclose(averaged, blocks.mean(axis=(2, 4)), rtol=1e-5,
                             atol=1e-4)
  with pytest.raises(ValueError, match="pool must be one of"):
    net.apply(net.weights, images, ("pool1",), pool="min")


def test_gray_is_repeated_to_rgb(net, images):
  gray = images[..., :1]
  layers = ("relu2_2",)
  np.testing.assert_array_equal(
      net.apply(net.weights, gray, layers)["relu2_2"],
      net.apply(net.weights, np.repeat(gray, 3, axis=-1), layers)["relu2_2"])


def test_converter_keeps_features_in_torch_layouts(state_dict, net):
  arrays = convert_vgg.convert_state_dict(state_dict)  # arch from the keys
  assert set(arrays) == set(vgg.expected_shapes("vgg16"))  # no classifier
  assert all(a.dtype == np.float32 for a in arrays.values())
  np.testing.assert_array_equal(arrays["features.28.weight"],
                                state_dict["features.28.weight"])
  # The loader transposes OIHW to HWIO: conv5_3 is features.28.
  np.testing.assert_array_equal(
      net.weights["conv5_3"]["kernel"],
      state_dict["features.28.weight"].transpose(2, 3, 1, 0))
  np.testing.assert_array_equal(net.weights["conv5_3"]["bias"],
                                state_dict["features.28.bias"])


def test_wrong_networks_are_refused(state_dict):
  with pytest.raises(UserError, match=r"not torchvision's vgg19 weights: "
                     r"missing keys: .*It holds vgg16's layers: use --arch "
                     "vgg16"):
    convert_vgg.convert_state_dict(state_dict, "vgg19")
  batch_norm = dict(state_dict, **{
      "features.1.running_mean": np.zeros(64, np.float32)})
  with pytest.raises(UserError, match="batch-normalised VGG"):
    convert_vgg.convert_state_dict(batch_norm)
  inception = {"Conv2d_1a_3x3.conv.weight": np.zeros((32, 3, 3, 3)),
               "fc.weight": np.zeros((1008, 2048))}
  with pytest.raises(UserError, match="0 convolution kernels under "
                     r"features\.\*.*Conv2d_1a_3x3.conv.weight"):
    convert_vgg.convert_state_dict(inception)
  broken = dict(state_dict)
  del broken["features.28.bias"]
  broken["classifier.6.weight"] = np.broadcast_to(np.float32(0), (10, 4096))
  with pytest.raises(UserError) as error:
    convert_vgg.convert_state_dict(broken, source="broken.pth")
  message = str(error.value)
  assert message.startswith("broken.pth is not torchvision's vgg16 weights")
  assert "missing keys: features.28.bias" in message
  assert ("wrong shapes: classifier.6.weight: (10, 4096), expected "
          "(1000, 4096)") in message
  assert "vgg16-397923af.pth" in message and "\n" not in message


def test_loader_refuses_bad_files(state_dict, tmp_path):
  missing = dict(convert_vgg.convert_state_dict(state_dict))
  del missing["features.0.bias"]
  path = str(tmp_path / "missing.npz")
  np.savez(path, **missing)
  with pytest.raises(UserError, match="missing keys: features.0.bias"):
    vgg.load_weights(path, "vgg16")
  with pytest.raises(UserError, match="vgg16's layers: use --arch vgg16"):
    vgg.load_weights(str(tmp_path / "missing.npz"), "vgg19")
  not_npz = tmp_path / "vgg16.npz"
  not_npz.write_text("not an archive")
  with pytest.raises(UserError, match="Cannot read VGG-16 weights"):
    vgg.load_weights(str(not_npz), "vgg16")


def test_converter_command_refuses_a_wrong_file(tmp_path):
  """The real `python -m cnnjax.nets.convert_vgg`, with a stand-in `torch`
  whose `load` reads .npz files (cnnjax's environment has no PyTorch):
  Inception-like weights exit 2 with one line, and nothing is written."""
  (tmp_path / "torch.py").write_text(
      "import numpy as np\n"
      "def load(path, map_location=None, weights_only=True):\n"
      "  with np.load(path) as data:\n"
      "    return {key: data[key] for key in data.files}\n")
  bad = tmp_path / "bad.pth"
  with open(bad, "wb") as f:
    np.savez(f, **{"fc.weight": np.zeros((1008, 2048), np.float32)})
  env = dict(os.environ, PYTHONPATH=os.pathsep.join(
      [str(tmp_path), os.environ.get("PYTHONPATH", "")]), JAX_PLATFORMS="cpu")
  refused = subprocess.run(
      [sys.executable, "-m", "cnnjax.nets.convert_vgg", "--torch_file",
       str(bad), "--out", str(tmp_path / "out.npz")],
      env=env, capture_output=True, text=True, timeout=120)
  assert refused.returncode == 2, refused.stderr
  lines = refused.stderr.strip().splitlines()
  assert len(lines) == 1 and lines[0].startswith(
      f"Error: {bad} is not torchvision's VGG-16 or VGG-19 weights"), lines
  assert not (tmp_path / "out.npz").exists()


def test_converter_main(state_dict, tmp_path, monkeypatch, capsys):
  # torch.load stood in for: the state dict as torchvision's file holds it
  # (the real torch.load is run by experiments/2026-12-03-vgg-port).
  monkeypatch.setattr(convert_vgg, "load_torch_state_dict",
                      lambda torch_file: state_dict)
  out = tmp_path / "vgg16.npz"
  args = ["--torch_file", "vgg16-397923af.pth", "--out", str(out)]
  assert convert_vgg.main(args + ["--arch", "vgg19"]) == 2
  assert "use --arch vgg16" in capsys.readouterr().err
  assert not out.exists()
  assert convert_vgg.main(args) == 0
  assert capsys.readouterr().out == f"Wrote {out} (vgg16)\n"
  assert set(np.load(out).files) == set(vgg.expected_shapes("vgg16"))


def test_converter_without_torch(monkeypatch, capsys, tmp_path):
  monkeypatch.setitem(sys.modules, "torch", None)  # makes `import torch` fail
  code = convert_vgg.main(["--torch_file", "x.pth", "--out",
                           str(tmp_path / "vgg19.npz")])
  assert code == 2 and "needs PyTorch" in capsys.readouterr().err


def test_specs_and_default_paths(weights_file, net, tmp_path, monkeypatch):
  monkeypatch.delenv(vgg.WEIGHTS_ENV["vgg19"], raising=False)
  assert nets.resolve("vgg19", dataset="d", data_dir=str(tmp_path)) == (
      f"vgg19:{tmp_path}/cnnjax_weights/vgg19.npz")
  assert nets.resolve("vgg19:random", dataset="d", data_dir="/x") == (
      "vgg19:random:0")
  assert nets.resolve("vgg16:random:7", dataset="d", data_dir="/x") == (
      "vgg16:random:7")
  with pytest.raises(UserError, match="integer >= 0"):
    nets.resolve("vgg19:random:-1", dataset="d", data_dir="/x")
  with pytest.raises(UserError) as error:
    nets.load("vgg19", dataset="d", data_dir=str(tmp_path))
  message = str(error.value)
  assert f"{tmp_path}/cnnjax_weights/vgg19.npz" in message
  assert "python -m cnnjax.nets.convert_vgg --torch_file " \
         "vgg19-dcbb9e9d.pth" in message
  assert "vgg19:random" in message
  monkeypatch.setenv(vgg.WEIGHTS_ENV["vgg16"], weights_file)
  same = nets.load("vgg16", dataset="d", data_dir=str(tmp_path))
  assert same.name == net.name == f"vgg16:{weights_file}"
  assert same.digest == net.digest
  assert net.kind == "vgg16" and net.layers == vgg.LAYERS["vgg16"]
  assert net.logits_layer is None and net.num_classes == 0


def test_vgg_is_no_fid_extractor(net):
  from cnnjax.evaluation import extractors
  with pytest.raises(UserError, match="no class logits"):
    extractors.from_net(net)


@pytest.fixture(scope="module")
def random_net():
  return nets.load("vgg19:random", dataset="d", data_dir="/none")


def test_random_network_is_seeded(random_net, net):
  assert random_net.name == "vgg19:random:0" and random_net.kind == "vgg19"
  assert random_net.digest != net.digest
  again = vgg.random_weights("vgg19", 0)  # computed afresh, not cached
  for name, layer in again.items():
    np.testing.assert_array_equal(layer["kernel"],
                                  random_net.weights[name]["kernel"])
  other = nets.load("vgg19:random:1", dataset="d", data_dir="/none")
  assert other.name == "vgg19:random:1" and other.digest != random_net.digest
  assert not np.allclose(other.weights["conv1_1"]["kernel"],
                         random_net.weights["conv1_1"]["kernel"])


def test_random_network_keeps_the_scale_of_a_photograph(random_net):
  """He et al. 2016's point: layers of comparable scale. On a real photo
  (not the calibration images) every ReLU's mean activation is close to 1;
  He initialisation alone drifts (so this test can fail)."""
  skimage_data = pytest.importorskip("skimage.data")
  photo = skimage_data.astronaut()[::2, ::2][:224, :224]
  images = jnp.asarray(photo[None], jnp.float32) / 127.5 - 1
  relus = tuple(n for n in vgg.LAYERS["vgg19"] if n.startswith("relu"))
  forward = jax.jit(vgg.apply, static_argnums=2)

  def spread(weights):
    means = [float(a.mean()) for a in forward(weights, images, relus).values()]
    return max(means) / min(means), means

  calibrated, means = spread(random_net.weights)
  assert calibrated < 1.6 and all(0.6 < m < 1.6 for m in means), means
  he_only, _ = spread(vgg.he_normal_weights("vgg19", 0))
  assert he_only > 1.8


def test_written_out_convolution_gradient_equals_autodiff():
  """conv3x3's hand-written VJP (fast in a scan on XLA:CPU) gives autodiff's
  values, inside a scan too, and second derivatives still work."""
  from cnnjax.nets.conv3x3 import conv3x3
  rng = np.random.default_rng(0)
  x = jnp.asarray(rng.normal(size=(2, 9, 7, 5)), jnp.float32)
  kernel = jnp.asarray(rng.normal(size=(3, 3, 5, 4)), jnp.float32)
  cotangent = jnp.asarray(rng.normal(size=(2, 9, 7, 4)), jnp.float32)
  precision = jax.lax.Precision.HIGHEST

  def plain(x, k):
    return jax.lax.conv_general_dilated(
        x, k, (1, 1), ((1, 1), (1, 1)),
        dimension_numbers=("NHWC", "HWIO", "NHWC"), precision=precision)

  def loss(conv):
    return lambda x, k: jnp.sum(jnp.tanh(conv(x, k)) * cotangent)

  ours = functools.partial(conv3x3, precision=precision)
  np.testing.assert_allclose(ours(x, kernel), plain(x, kernel), rtol=1e-6,
                             atol=1e-6)
  want = jax.grad(loss(plain), (0, 1))(x, kernel)
  got = jax.grad(loss(ours), (0, 1))(x, kernel)
  for a, b in zip(got, want):
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)

  def steps(conv):  # a few gradient steps on x in a scan, as stylize does
    def step(x, _):
      return x - 0.01 * jax.grad(loss(conv))(x, kernel), None
    return jax.jit(lambda x: jax.lax.scan(step, x, length=3)[0])

  np.testing.assert_allclose(steps(ours)(x), steps(plain)(x), rtol=1e-5,
                             atol=1e-5)
  hessian_vector = jax.grad(lambda x: jnp.vdot(
      jax.grad(loss(ours))(x, kernel), cotangent[..., :1].repeat(5, -1)))
  want_hv = jax.grad(lambda x: jnp.vdot(
      jax.grad(loss(plain))(x, kernel), cotangent[..., :1].repeat(5, -1)))
  np.testing.assert_allclose(hessian_vector(x), want_hv(x), rtol=1e-4,
                             atol=1e-4)
