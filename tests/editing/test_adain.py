"""AdaIN: the layer and its losses against numpy, the task on 1 and 8
devices with equal results, resumed bitwise, a few steps lowering the
held-out loss, `cnnjax eval`'s row, and `cnnjax stylize --method adain`
through the real entry point (what it writes, and exit code 2 for bad
input)."""

import json
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from PIL import Image

from cnnjax import commands, runs, sharding, tasks
from cnnjax import config as config_lib
from cnnjax import workdir as workdir_lib
from cnnjax.editing import adain, adain_command
from cnnjax.errors import UserError
from cnnjax.train import loop
from tests.conftest import cli, digests, load_config, stopped_copy

EPS = adain.EPS


def _features(seed, shape):
  rng = np.random.default_rng(seed)
  # Channels of different means and spreads, as ReLU features have.
  return (rng.gamma(2.0, 1.0, shape) * rng.uniform(0.5, 3, shape[-1]) +
          rng.uniform(0, 2, shape[-1])).astype(np.float32)


def _numpy_adain(content, style, eps=EPS):
  c = content.astype(np.float64)
  s = style.astype(np.float64)
  c_mean, s_mean = c.mean((1, 2), keepdims=True), s.mean((1, 2),
                                                        keepdims=True)
  c_std = np.sqrt(c.var((1, 2), keepdims=True) + eps)
  s_std = np.sqrt(s.var((1, 2), keepdims=True) + eps)
  return (c - c_mean) / c_std * s_std + s_mean


def test_adain_takes_the_style_statistics_per_channel():
  content, style = _features(0, (2, 5, 6, 4)), _features(1, (2, 7, 3, 4))
  out = np.asarray(adain.adain(content, style), np.float64)
  np.testing.assert_allclose(out, _numpy_adain(content, style), rtol=2e-5,
                             atol=2e-5)
  np.testing.assert_allclose(out.mean((1, 2)), style.mean((1, 2)),
                             rtol=1e-5, atol=1e-5)
  # σ(out) = σ(s)·std(c)/√(var(c) + ε): the style's, up to ε.
  np.testing.assert_allclose(out.std((1, 2)), style.std((1, 2)), rtol=1e-4)
  mean, std = adain.mean_std(style)
  np.testing.assert_allclose(np.asarray(std)[:, 0, 0],
                             np.sqrt(style.var((1, 2)) + EPS), rtol=1e-5)
  np.testing.assert_allclose(np.asarray(mean)[:, 0, 0], style.mean((1, 2)),
                             rtol=1e-5)


def test_masked_statistics_are_those_of_the_region():
  features = _features(2, (1, 6, 8, 3))
  mask = np.zeros((6, 8), np.float32)
  mask[1:5, 2:7] = 1
  mean, std = adain.mean_std(features, mask)
  region = features[0, 1:5, 2:7]
  np.testing.assert_allclose(np.asarray(mean)[0, 0, 0], region.mean((0, 1)),
                             rtol=1e-5)
  np.testing.assert_allclose(np.asarray(std)[0, 0, 0],
                             np.sqrt(region.var((0, 1)) + EPS), rtol=1e-5)


def test_alpha_weights_and_masks_of_the_target():
  content = _features(3, (1, 4, 6, 5))
  first, second = _features(4, (1, 3, 3, 5)), _features(5, (1, 5, 2, 5))
  single = np.asarray(adain.adain(content, first))
  # α = 0: the content's own features; α = 1 with one-hot weights: AdaIN
  # of that style alone; α in between: the straight line.
  np.testing.assert_array_equal(
      adain.target(content, [first, second], alpha=0.0), content)
  np.testing.assert_allclose(
      adain.target(content, [first, second], np.array([1.0, 0.0])), single,
      rtol=1e-6, atol=1e-6)
  np.testing.assert_allclose(
      adain.target(content, [first], alpha=0.25),
      0.25 * single + 0.75 * content, rtol=1e-6, atol=1e-6)
  mixed = adain.target(content, [first, second], np.array([0.3, 0.7]))
  np.testing.assert_allclose(
      mixed, 0.3 * single + 0.7 * np.asarray(adain.adain(content, second)),
      rtol=1e-5, atol=1e-5)
  # Masks: the left half takes the first style with the statistics of the
  # left half of the content, the right half the second; uncovered
  # positions keep the content.
  left = np.zeros((4, 6), np.float32)
  left[:, :3] = 1
  both = adain.target(content, [first, second], None,
                      np.stack([left, 1 - left]))
  half = content[:, :, :3]
  np.testing.assert_allclose(np.asarray(both)[:, :, :3],
                             _numpy_adain(half, first), rtol=2e-5, atol=2e-5)
  only_left = adain.target(content, [first], None, left[None])
  np.testing.assert_array_equal(np.asarray(only_left)[:, :, 3:],
                                content[:, :, 3:])


def test_losses_against_numpy():
  found = {layer: _features(10 + i, (2, 4, 4, 3))
           for i, layer in enumerate(adain.STYLE_LAYERS)}
  style = {layer: _features(20 + i, (2, 3, 5, 3))
           for i, layer in enumerate(adain.STYLE_LAYERS)}
  wanted = {layer: adain.mean_std(style[layer]) for layer in style}
  expected = 0.0
  for layer in adain.STYLE_LAYERS:
    a, b = found[layer].astype(np.float64), style[layer].astype(np.float64)
    expected += np.mean((a.mean((1, 2)) - b.mean((1, 2))) ** 2)
    expected += np.mean((np.sqrt(a.var((1, 2)) + EPS) -
                         np.sqrt(b.var((1, 2)) + EPS)) ** 2)
  assert float(adain.style_loss(found, wanted)) == pytest.approx(expected,
                                                                 rel=1e-5)
  target = _features(30, (2, 4, 4, 3))
  assert float(adain.content_loss(found["relu4_1"], target)) == \
      pytest.approx(np.mean((found["relu4_1"] - target) ** 2), rel=1e-6)


# ----------------------------------------------------------------------------
# The task and the command.

STEPS = 2


def adain_config(steps=STEPS):
  config = load_config("adain", "tiny")
  config.train.num_steps = steps
  config.train.log_every_steps = 1
  config.train.checkpoint_every_steps = 1
  config.optim.lr = 1e-3
  return config


def _rows(workdir):
  with open(os.path.join(workdir, "metrics.jsonl")) as f:
    return [json.loads(line) for line in f if '"loss"' in line]


@pytest.fixture(scope="module")
def adain_run(tmp_path_factory):
  """A tiny adain run on the 8 devices: 2 steps, checkpoints 1 and 2."""
  workdir = str(tmp_path_factory.mktemp("adain") / "run")
  loop.train_and_evaluate(adain_config(), workdir)
  return workdir


@pytest.mark.slow
def test_trains_on_one_and_eight_devices_resumes_bitwise_and_learns(
    adain_run, tmp_path):
  one = str(tmp_path / "one")
  loop.train_and_evaluate(adain_config(), one, devices=jax.devices()[:1])
  rows = {"one": _rows(one), "eight": _rows(adain_run)}
  assert [r["step"] for r in rows["one"]] == list(range(1, STEPS + 1))
  # Step 1 sees the same parameters: only the reduction order differs.
  # Step 2 follows one Adam step, whose first update is ~lr·sign(g): a
  # parameter whose gradient is float noise moves a full lr either way,
  # so the losses part by ~1e-3 relative (7.7e-4 seen on an AVX-512 CI
  # machine) without anything being wrong.
  for a, b in zip(rows["one"], rows["eight"]):
    rtol = 1e-4 if a["step"] == 1 else 5e-3
    for key in ("loss", "content_loss", "style_loss"):
      np.testing.assert_allclose(a[key], b[key], rtol=rtol, atol=1e-6)
  # Stopped at step 1 and resumed: bitwise the straight run.
  resumed = stopped_copy(adain_run, str(tmp_path / "resumed"), 1)
  loop.train_and_evaluate(adain_config(), resumed)
  assert digests(resumed) == digests(adain_run)
  # The VGG in the state is the frozen one; the held-out loss went down.
  run = runs.load(adain_run)
  start = run.task.create_state(run.mesh)
  for a, b in zip(jax.tree.leaves(start.encoder),
                  jax.tree.leaves(run.state.encoder)):
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
  before = run.task.evaluate(start, run.mesh)
  # `cnnjax eval`'s row: held-out losses and speed, of the trained decoder
  # (two steps move the held-out loss either way: learning is checked on a
  # batch below).
  row = commands.evaluate(adain_run)
  assert row["step"] == STEPS and row["num_images"] == 8
  for key in ("content_loss", "style_loss", "loss", "images_per_second"):
    assert np.isfinite(row[key]) and row[key] > 0, key
  assert row["loss"] == pytest.approx(row["content_loss"] +
                                      10 * row["style_loss"], rel=1e-5)
  assert row["loss"] != before["loss"]
  with pytest.raises(UserError, match="--extractor"):
    commands.evaluate(adain_run, extractor="classifier")


def test_steps_lower_the_loss_of_a_batch():
  """The jitted step on one device, 12 times on one batch of held-out
  pairs: the loss falls by more than a third."""
  config = adain_config()
  task = tasks.build(config)
  mesh = sharding.make_mesh(jax.devices()[:1])
  contents, styles = task.eval_pairs(8)
  batch = {"image": jnp.asarray(contents), "style_image": jnp.asarray(styles),
           "label": jnp.zeros(8, jnp.int32)}
  state = task.create_state(mesh)
  step = jax.jit(task.step_fn(mesh))
  losses = []
  for _ in range(12):
    state, metrics = step(state, batch)
    losses.append(float(metrics["loss"]))
  assert np.all(np.isfinite(losses))
  assert losses[-1] < 0.67 * losses[0], losses


@pytest.fixture(scope="module")
def pictures(tmp_path_factory):
  folder = tmp_path_factory.mktemp("adain_pictures")
  rng = np.random.default_rng(0)
  paths = {}
  for name, shape in (("content", (44, 60)), ("style", (40, 40)),
                      ("other", (36, 52))):
    pixels = rng.integers(0, 256, (shape[0] // 4, shape[1] // 4, 3),
                          dtype=np.uint8).repeat(4, 0).repeat(4, 1)
    paths[name] = str(folder / f"{name}.png")
    Image.fromarray(pixels).save(paths[name])
  paths["broken"] = str(folder / "broken.png")
  with open(paths["broken"], "wb") as f:
    f.write(b"\x89PNG\r\n\x1a\n not really")
  return paths


@pytest.mark.slow
def test_stylize_writes_out_and_alpha_zero_ignores_the_style(adain_run,
                                                             pictures,
                                                             tmp_path):
  out = str(tmp_path / "styled.png")
  result = cli("stylize", "--method=adain", f"--workdir={adain_run}",
               f"--content={pictures['content']}",
               f"--style={pictures['style']},{pictures['other']}",
               "--style_weights=3,1", "--alpha=0.8", "--preserve_color",
               "--size=64", f"--out={out}")
  assert result.returncode == 0, result.stderr[-3000:]
  lines = result.stdout.strip().splitlines()
  assert len(lines) == 1
  row = json.loads(lines[0])
  assert row["method"] == "adain" and row["network"] == "vgg19:random:0"
  assert row["step"] == STEPS and row["style_weights"] == [0.75, 0.25]
  assert row["size"] == [48, 64]  # 44x60 at 64 px: 47x64, sides in 8s
  assert row["images_per_second"] > 0 and np.isfinite(row["style_loss"])
  assert Image.open(out).size == (64, 48)
  # α = 0 ignores the style: any style gives the same image.
  outs = []
  for name in ("style", "other"):
    outs.append(str(tmp_path / f"{name}.png"))
    adain_command.stylize_images(pictures["content"], pictures[name],
                                 outs[-1], workdir=adain_run, size=64,
                                 alpha=0.0)
  first, second = (np.asarray(Image.open(p)) for p in outs)
  np.testing.assert_array_equal(first, second)


@pytest.fixture
def untrained(tmp_path):
  """A tiny adain run's workdir before its first checkpoint."""
  workdir = str(tmp_path / "untrained")
  os.makedirs(workdir)
  workdir_lib.write_config(config_lib.to_dict(adain_config()), workdir, [])
  return workdir


def _not_adain(workdir):
  """The config.json of `workdir`, relabelled as another task's."""
  path = os.path.join(workdir, "config.json")
  with open(path) as f:
    values = json.load(f)
  with open(path, "w") as f:
    json.dump({**values, "task": "enhance"}, f)
  return workdir


@pytest.mark.slow
@pytest.mark.parametrize("case,fragment", [
    ("not_adain", "adain run"),
    ("no_checkpoint", "no checkpoint"),
    ("existing_out", "--overwrite"),
])
def test_bad_input_exits_2_with_one_line(untrained, pictures, tmp_path, case,
                                         fragment):
  out = tmp_path / "out.png"
  workdir = _not_adain(untrained) if case == "not_adain" else untrained
  if case == "existing_out":
    out.write_bytes(b"a user's picture")
  result = cli("stylize", "--method=adain", f"--workdir={workdir}",
               f"--content={pictures['content']}",
               f"--style={pictures['style']}", f"--out={out}", "--size=64")
  assert result.returncode == 2, result.stderr[-3000:]
  message = result.stderr.strip().splitlines()
  assert len(message) == 1 and fragment in message[0], message
  assert (out.read_bytes() == b"a user's picture" if case == "existing_out"
          else not out.exists())


@pytest.mark.parametrize("change,fragment", [
    ({"workdir": None}, "--workdir"),
    ({"style_images": "broken"}, "broken.png"),
    ({"content": "/no/such/photo.png"}, "no such file"),
    ({"alpha": 1.5}, "--alpha"),
    ({"style_weights": "1,2"}, "--style_weights"),
    ({"vgg": "vgg19:random:3"}, "omit --vgg"),
    ({"size": 16}, "--size"),
])
def test_bad_arguments_are_user_errors(untrained, pictures, tmp_path, change,
                                       fragment):
  args = {"content": pictures["content"], "style_images": pictures["style"],
          "out": str(tmp_path / "out.png"), "workdir": untrained, "size": 64,
          **change}
  if args["style_images"] == "broken":
    args["style_images"] = pictures["broken"]
  with pytest.raises(UserError, match=fragment):
    adain_command.stylize_images(args.pop("content"), args.pop("style_images"),
                                 args.pop("out"), **args)
  assert not os.path.exists(tmp_path / "out.png")


def test_a_size_beyond_memory_is_refused_with_one_that_fits():
  with pytest.raises(UserError, match="use --size") as error:
    adain_command.check_memory([(40000, 30000), (40000, 40000)])
  fits = int(str(error.value).split("--size ")[1].split()[0])
  adain_command.check_memory([(fits * 3 // 4, fits), (fits, fits)])
