"""`cnnjax invert` and `cnnjax edit` end to end, and their answers to bad
input.

One tiny DCGAN run, a 2-step encoder run for it and one `cnnjax invert`
through the real entry point are shared by the module. Every edit op is run
once with small settings (most in-process through `edit_command.edit`, the
same function the CLI calls; two through the CLI), and every bad input must
be exit code 2 with one `cnnjax: error:` line and nothing written.
"""

import json
import os
import shutil
from concurrent.futures import ThreadPoolExecutor

import jax
import numpy as np
import pytest
from PIL import Image

from cnnjax.editing import edit_command, edits, inputs, session
from cnnjax.train import loop
from cnnjax.utils import images as images_lib
from tests.conftest import cli, load_config, snapshot

RES = 32  # the tiny digits run's resolution
LATENT_DIM = 16  # and its generator's latent size
SIDE = RES + 2  # a grid cell and its padding (make_grid's padding=2)
ROWS = 2  # images each edit runs on


@pytest.fixture(scope="module")
def inverted(tmp_path_factory, gan_run):
  """The tiny GAN run (checkpoints 10 and 20), an encoder run for its step-20
  generator, and the first 8 digits test images inverted (hybrid, 3 steps)
  through the CLI. The runs train on one device: fewer programs to compile,
  and the CLI reads their checkpoints onto all 8 all the same."""
  root = tmp_path_factory.mktemp("edit_cli")
  gan, encoder = gan_run, str(root / "encoder")
  config = load_config("encoder", f"gan={gan},tiny")
  config.train.num_steps = 2
  loop.train_and_evaluate(config, encoder, devices=jax.devices()[:1])
  out = str(root / "inverted")
  result = cli("invert", "--workdir", gan, "--images",
               "dataset:digits:test:8", "--out", out, "--method", "hybrid",
               "--encoder", encoder, "--steps", "3")
  return {"gan": gan, "encoder": encoder, "out": out, "result": result,
          "latents": os.path.join(out, "latents.npz")}


def _assert_one_line_error(result, *fragments):
  """Exit code 2 and a stderr of exactly one `cnnjax: error:` line holding
  every fragment."""
  assert result.returncode == 2, (result.returncode, result.stderr[-3000:])
  lines = result.stderr.strip().splitlines()
  assert len(lines) == 1, result.stderr[-3000:]
  assert lines[0].startswith("cnnjax: error: "), lines[0]
  for fragment in fragments:
    assert fragment in lines[0], (fragment, lines[0])


def _cli_each(calls):
  """The results of `cli(*args)` for each argument list, two at a time
  (each call is mostly a Python + JAX start-up)."""
  with ThreadPoolExecutor(2) as pool:
    return list(pool.map(lambda args: cli(*args), calls))


def _last_json(result) -> dict:
  assert result.returncode == 0, result.stderr[-3000:]
  return json.loads(result.stdout.strip().splitlines()[-1])


def _digits_test_labels(count: int) -> np.ndarray:
  """The labels of the first `count` digits test records, from scikit-learn
  and the split's documented permutation (cnnjax/data/digits.py), not from
  cnnjax's reader."""
  from sklearn.datasets import load_digits
  target = load_digits().target
  order = np.random.default_rng(0).permutation(len(target))
  return target[order[int(round(0.8 * len(target))):]][:count]


def _cells(path: str, rows: int, columns: int) -> np.ndarray:
  """The grid PNG at `path` as uint8 cells [rows, columns, R, R], after
  checking its size: make_grid's (padding 2) scaled 2x, white padding."""
  picture = np.asarray(Image.open(path))
  assert picture.shape == ((rows * SIDE + 2) * 2, (columns * SIDE + 2) * 2)
  pixels = picture[::2, ::2]  # nearest-neighbour 2x: every other pixel
  np.testing.assert_array_equal(picture, np.repeat(np.repeat(pixels, 2, 0),
                                                   2, 1))
  assert (pixels[:2] == 255).all() and (pixels[:, :2] == 255).all()
  return np.stack([np.stack([
      pixels[2 + r * SIDE:2 + r * SIDE + RES, 2 + c * SIDE:2 + c * SIDE + RES]
      for c in range(columns)]) for r in range(rows)])


def _uint8(images) -> np.ndarray:
  """Images [N, R, R, 1] in [-1, 1] as the grid stores them."""
  return images_lib.to_uint8(images)[..., 0]


def _close(a, b, levels: int = 1):
  """uint8 images equal up to `levels` (recomputed floats round apart)."""
  difference = np.abs(a.astype(int) - b.astype(int))
  assert difference.max() <= levels, difference.max()


# --- cnnjax invert -------------------------------------------------------


def test_invert_writes_latents_reconstructions_and_metrics(inverted):
  row = _last_json(inverted["result"])
  for key in ("mse", "psnr", "ssim", "class_agreement", "seconds_per_image"):
    assert np.isfinite(row[key]), key
  assert 0 <= row["class_agreement"] <= 1 and row["seconds_per_image"] > 0
  assert row["method"] == "hybrid" and row["steps"] == 3
  assert row["num_images"] == 8 and row["out"] == inverted["out"]

  stored = np.load(inverted["latents"])
  assert stored["z"].shape == (8, LATENT_DIM)
  assert stored["z"].dtype == np.float32 and np.isfinite(stored["z"]).all()
  np.testing.assert_array_equal(stored["labels"], _digits_test_labels(8))
  config = json.load(open(os.path.join(inverted["gan"], "config.json")))
  expected = inputs.read_images("dataset:digits:test:8", config["data"])
  np.testing.assert_array_equal(stored["originals"], expected.images)
  assert list(stored["names"]) == [f"digits:test:{i}" for i in range(8)]
  meta = json.loads(str(stored["meta"]))
  assert meta["gan_step"] == 20 and meta["method"] == "hybrid"
  assert meta["encoder_workdir"] == os.path.abspath(inverted["encoder"])
  # The printed metrics are those of the stored pairs (data range 2).
  recon = stored["reconstructions"]
  assert recon.shape == (8, RES, RES, 1)
  errors = np.mean((stored["originals"] - recon) ** 2, axis=(1, 2, 3))
  assert row["mse"] == pytest.approx(errors.mean(), rel=1e-4)
  assert row["psnr"] == pytest.approx(np.mean(10 * np.log10(4 / errors)),
                                      rel=1e-4)
  # reconstruction.png: the 8 originals above their 8 reconstructions.
  cells = _cells(os.path.join(inverted["out"], "reconstruction.png"), 2, 8)
  np.testing.assert_array_equal(cells[0], _uint8(stored["originals"]))
  np.testing.assert_array_equal(cells[1], _uint8(recon))


def test_invert_refuses_bad_input_and_writes_nothing(inverted, tmp_path):
  gan, encoder, out = inverted["gan"], inverted["encoder"], inverted["out"]
  wide = str(tmp_path / "wide.png")
  Image.fromarray(np.zeros((40, 50), np.uint8)).save(wide)  # 50 wide, 40 high
  colored = np.zeros((RES, RES, 3), np.uint8)
  colored[..., 0] = 200  # red: not a gray image saved as RGB
  rgb = str(tmp_path / "rgb.png")
  Image.fromarray(colored).save(rgb)
  no_checkpoint = str(tmp_path / "no_checkpoint")
  os.makedirs(no_checkpoint)
  shutil.copy(os.path.join(gan, "config.json"), no_checkpoint)
  fresh = str(tmp_path / "fresh")  # an --out that must not be created
  digits = "dataset:digits:test:4"
  before = {d: snapshot(d) for d in (gan, encoder, out)}
  cases = [
      ([gan, "--images", wide, "--method", "optimize"],
       ["wide.png is 50x40", "32x32"]),
      ([gan, "--images", rgb, "--method", "optimize"],
       ["rgb.png is a color image", "grayscale"]),
      ([gan, "--images", digits, "--method", "hybrid"],
       ["--method hybrid needs --encoder"]),
      ([gan, "--images", digits, "--method", "foo"],
       ["--method 'foo'", "encoder, optimize, hybrid"]),
      ([no_checkpoint, "--images", digits, "--method", "optimize"],
       [f"{no_checkpoint} has no checkpoint"]),
      # The encoder was trained for the step-20 generator, not step 10's.
      ([gan, "--images", digits, "--encoder", encoder, "--step", "10"],
       [f"The encoder in {encoder} was trained for another generator",
        "(step 10)"]),
  ]
  results = _cli_each(
      [["invert", "--out", fresh, "--steps", "1", "--workdir", *args]
       for args, _ in cases] +
      # An --out that holds a latents.npz already.
      [["invert", "--workdir", gan, "--images", digits, "--out", out,
        "--method", "optimize", "--steps", "1"]])
  for (_, fragments), result in zip(cases, results):
    _assert_one_line_error(result, *fragments)
  _assert_one_line_error(results[-1], f"{out} already holds latents.npz",
                         "--overwrite")
  assert not os.path.exists(fresh)
  assert {d: snapshot(d) for d in (gan, encoder, out)} == before
  assert sorted(os.listdir(no_checkpoint)) == ["config.json"]


def test_missing_required_flags_are_one_line(tmp_path):
  workdir = str(tmp_path / "run")
  results = _cli_each([
      ["invert", "--workdir", workdir],
      ["invert", "--workdir", workdir, "--images", "dataset:digits:test:4"],
      ["edit", "--workdir", workdir, "--latents", "l.npz", "--out", "e.png"],
  ])
  _assert_one_line_error(results[0], "--images is required for invert",
                         "dataset:<name>:<split>[:N]")
  _assert_one_line_error(results[1], "--out is required for invert",
                         "the folder to write")
  _assert_one_line_error(results[2], "--op is required for edit",
                         "interpolate, direction")
  assert os.listdir(tmp_path) == []


# --- cnnjax edit ---------------------------------------------------------


@pytest.mark.slow
def test_every_edit_op_writes_its_grid_latents_and_row(inverted, tmp_path):
  gan, latents = inverted["gan"], inverted["latents"]
  stored = np.load(latents)
  z, labels = stored["z"][:ROWS], stored["labels"][:ROWS]
  originals = _uint8(stored["originals"][:ROWS])
  recon = _uint8(stored["reconstructions"][:ROWS])
  editor = session.Editor(gan)
  # The stored latents are those of the stored reconstructions.
  np.testing.assert_allclose(editor.generate(stored["z"]),
                             stored["reconstructions"], atol=1e-5)
  # What class_direction and class_means fit on (4000 samples, seed 0).
  _, _, classes = edits.sample_labelled(editor, 4000)
  counts = np.bincount(classes, minlength=10)
  drawn = int(np.argmax(counts))  # has a mean latent for arithmetic
  other = int(np.argsort(counts)[-2])  # the next, if G draws another

  def run(op, columns, **kwargs):
    """edit() of `op`; checks the grid, the edited latents and the row's
    common keys; returns (row, cells, edited z)."""
    out = str(tmp_path / op / "grid.png")  # a folder edit must make
    row = edit_command.edit(gan, latents, op, out, rows=ROWS, steps=3,
                            frames=3, **kwargs)
    assert row["op"] == op and row["num_images"] == ROWS
    assert row["out"] == out and row["seconds"] >= 0
    cells = _cells(out, ROWS, 2 + columns)
    np.testing.assert_array_equal(cells[:, 0], originals)
    np.testing.assert_array_equal(cells[:, 1], recon)
    saved = np.load(out[:-4] + ".npz")
    assert row["edited_latents"] == out[:-4] + ".npz"
    assert saved["z"].shape == (ROWS, columns, LATENT_DIM)
    np.testing.assert_array_equal(saved["labels"], labels)
    assert json.loads(str(saved["meta"]))["op"] == op
    return row, cells, saved["z"]

  # interpolate: each image toward the next, frames 0 and 1 the two ends.
  row, cells, moved = run("interpolate", 3)
  assert "success_rate" not in row
  np.testing.assert_allclose(moved[:, 0], z, atol=1e-5)
  np.testing.assert_allclose(moved[:, -1], np.roll(z, -1, 0), atol=1e-5)
  _close(cells[:, 2], recon)
  _close(cells[:, -1], np.roll(recon, -1, 0))

  # sefa with its own strengths: the middle (0) column is the image itself.
  row, cells, moved = run("sefa", 3, strengths="-2,0,2")
  assert row["component"] == 0 and row["eigenvalue"] > 0
  np.testing.assert_array_equal(moved[:, 1], z)
  _close(cells[:, 3], recon)
  step = moved[:, 2] - moved[:, 1]  # 2 x a unit direction, shared by rows
  np.testing.assert_allclose(np.linalg.norm(step, axis=-1), 2, rtol=1e-5)
  np.testing.assert_allclose(moved[:, 0] - moved[:, 1], -step, atol=1e-5)

  row, _, moved = run("pca", 5, component=1)  # default -6,-3,0,3,6
  assert row["component"] == 1 and 0 < row["explained_variance"] <= 1
  np.testing.assert_array_equal(moved[:, 2], z)

  for op, columns, target in (("arithmetic", 3, drawn),
                              ("counterfactual", 1, other)):
    row, _, moved = run(op, columns, target=target)
    assert row["target"] == target and np.isfinite(row["feature_distance"])
    # success_rate: the classifier's verdict on the last edit column; the
    # share already in the target, its verdict on the reconstructions.
    final = session.predicted_classes(editor.classify(editor.generate(
        moved[:, -1]))) == target
    before = session.predicted_classes(editor.classify(
        stored["reconstructions"][:ROWS])) == target
    assert row["success_rate"] == pytest.approx(np.mean(final))
    assert row["already_in_target"] == pytest.approx(np.mean(before))
    if before.all():
      assert "success_rate_moved" not in row
    else:
      assert row["success_rate_moved"] == pytest.approx(
          np.mean(final[~before]))
  assert 0 <= row["mean_steps"] <= 3 and row["latent_distance"] >= 0
  # The bridge (to the nearest generated image of the target class) moves
  # only the images 3 steps left short, each into the target class; with
  # no generated image of that class there is nothing to bridge to.
  if counts[other] == 0:
    assert row["bridged"] == 0
  else:
    assert row["success_rate"] == 1.0

  # direction: InterFaceGAN needs generated samples in and out of the
  # class. A class the tiny generator draws only sometimes if there is one;
  # else (this tiny run draws one class only) the CLI must refuse cleanly.
  two_sided = [k for k in range(10) if 0 < counts[k] < len(classes)]
  target = two_sided[0] if two_sided else other
  out = str(tmp_path / "direction.png")
  result = cli("edit", "--workdir", gan, "--latents", latents, "--op",
               "direction", "--target", str(target), "--out", out,
               "--rows", str(ROWS))
  if two_sided:
    row = _last_json(result)
    assert 0 <= row["success_rate"] <= 1 and row["svm_accuracy"] > 0.5
    _cells(out, ROWS, 2 + 5)
  else:
    _assert_one_line_error(
        result, f"puts {counts[target]} of 4000 generated images in class "
        f"{target}", "a direction toward it needs samples on both sides")
    assert not os.path.exists(out)

  # inpaint through the CLI, with a mask image (white = fill).
  mask = np.zeros((RES, RES), np.uint8)
  mask[8:20, 10:26] = 255
  Image.fromarray(mask).save(str(tmp_path / "mask.png"))
  out = str(tmp_path / "inpaint.png")
  row = _last_json(cli("edit", "--workdir", gan, "--latents", latents,
                       "--op", "inpaint", "--mask", str(tmp_path / "mask.png"),
                       "--out", out, "--rows", str(ROWS), "--steps", "3"))
  assert row["op"] == "inpaint" and row["hole_pixels"] == 12 * 16
  cells = _cells(out, ROWS, 4)
  hole = mask == 255
  # masked: the hole gray (0.0 -> 128); filled: the known pixels kept, the
  # hole the generator's image of the fitted latent.
  assert (cells[:, 2][:, hole] == 128).all()
  np.testing.assert_array_equal(cells[:, 2][:, ~hole], originals[:, ~hole])
  np.testing.assert_array_equal(cells[:, 3][:, ~hole], originals[:, ~hole])
  fitted = np.load(out[:-4] + ".npz")["z"]
  assert fitted.shape == (ROWS, 1, LATENT_DIM)
  filled = editor.generate(fitted[:, 0])
  _close(cells[:, 3][:, hole], _uint8(filled)[:, hole])
  errors = np.mean((filled - stored["originals"][:ROWS])[:, hole] ** 2,
                   axis=(1, 2))
  assert row["hole_mse"] == pytest.approx(errors.mean(), rel=1e-4)
  assert row["hole_psnr"] == pytest.approx(
      np.mean(10 * np.log10(4 / errors)), rel=1e-4)


@pytest.mark.slow
def test_edit_refuses_bad_input_and_writes_nothing(inverted, tmp_path):
  gan, latents, out_dir = inverted["gan"], inverted["latents"], inverted["out"]
  small_mask = str(tmp_path / "mask.png")
  Image.fromarray(np.full((20, 20), 255, np.uint8)).save(small_mask)
  text = str(tmp_path / "notes.npz")
  with open(text, "w") as f:
    f.write("not an npz file\n")
  truncated = str(tmp_path / "truncated.npz")
  with open(latents, "rb") as f:
    data = f.read()
  with open(truncated, "wb") as f:
    f.write(data[:len(data) // 2])
  existing = tmp_path / "kept" / "grid.png"
  existing.parent.mkdir()
  existing.write_bytes(b"a user's picture")
  fresh = str(tmp_path / "new" / "grid.png")  # must not be created
  before = {d: snapshot(d) for d in (gan, out_dir, str(existing.parent))}
  cases = [
      ([latents, "--op", "blur"], ["--op 'blur'", "interpolate, direction"]),
      ([latents, "--op", "inpaint", "--mask", small_mask],
       ["mask.png is 20x20", "32x32"]),
      ([latents, "--op", "inpaint"], ["--op inpaint needs --mask"]),
      ([latents, "--op", "direction", "--target", "99"],
       ["--target 99 is not a class", "0..9"]),
      ([text, "--op", "sefa"], [f"--latents {text} is not an .npz file"]),
      # Cut in half: its zip directory (at the end) is gone.
      ([truncated, "--op", "sefa"], [f"--latents {truncated} is not an "
                                     ".npz file"]),
  ]
  results = _cli_each(
      [["edit", "--workdir", gan, "--out", fresh, "--rows", "2", "--latents",
        *args] for args, _ in cases] +
      [["edit", "--workdir", gan, "--latents", latents, "--op", "sefa",
        "--out", str(existing), "--rows", "2"]])
  for (_, fragments), result in zip(cases, results):
    _assert_one_line_error(result, *fragments)
  _assert_one_line_error(results[-1], f"{existing} exists", "--overwrite")
  assert not os.path.exists(os.path.dirname(fresh))
  assert {d: snapshot(d) for d in (gan, out_dir,
                                   str(existing.parent))} == before


def test_a_component_out_of_range_is_one_line(inverted, tmp_path):
  """Components 0..latent_dim-1 exist; others were once a traceback (a
  ValueError of latent_ops.sefa_directions, an IndexError of an empty PCA)."""
  cases = [("sefa", "999", "--component 999: the latent has 16 dimensions"),
           ("pca", "16", "--component 16: the latent has 16 dimensions"),
           ("pca", "-1", "--component -1 must be >= 0")]
  results = _cli_each([
      ["edit", "--workdir", inverted["gan"], "--latents", inverted["latents"],
       "--op", op, "--component", component, "--out",
       str(tmp_path / f"{op}{component}.png"), "--rows", "2"]
      for op, component, _ in cases])
  for (_, _, fragment), result in zip(cases, results):
    _assert_one_line_error(result, fragment)
  assert os.listdir(tmp_path) == []
