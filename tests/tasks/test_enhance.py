"""The enhance task: trained by the shared loop on 1 and 8 devices with
equal results, resumed bitwise, its first loss that of the identity
correction, better than its degraded inputs after training; `cnnjax eval`
scores it beside scikit-image's baselines, and `cnnjax enhance` writes
images of any size and refuses bad input with exit code 2."""

import json
import os

import jax
import numpy as np
import pytest
from PIL import Image

from cnnjax import commands, data
from cnnjax.editing import adjust, enhance_command
from cnnjax.errors import UserError
from cnnjax.train import loop
from tests.conftest import (cli, digests, load_config, snapshot,
                            stopped_copy)


def enhance_config(steps=20):
  config = load_config("enhance", "tiny")
  config.train.num_steps = steps
  config.train.log_every_steps = 1
  config.train.sample_every_steps = 20  # one grid, at the end
  return config


def _rows(workdir):
  with open(os.path.join(workdir, "metrics.jsonl")) as f:
    return [json.loads(line) for line in f if '"loss"' in line]


@pytest.fixture(scope="module")
def enhance_run(tmp_path_factory):
  """A tiny run on the 8 fake devices: 20 steps, checkpoints 10 and 20."""
  workdir = str(tmp_path_factory.mktemp("enhance"))
  loop.train_and_evaluate(enhance_config(), workdir)
  return workdir


@pytest.mark.slow
def test_enhance_agrees_on_one_and_eight_devices_and_resumes_bitwise(
    enhance_run, tmp_path):
  one = str(tmp_path / "one")
  loop.train_and_evaluate(enhance_config(steps=2), one,
                          devices=jax.devices()[:1])
  for row_one, row_eight in zip(_rows(one), _rows(enhance_run)[:2]):
    for key in ("loss", "psnr", "psnr_degraded"):
      np.testing.assert_allclose(row_one[key], row_eight[key], rtol=1e-5)
  # Stopped at step 10 and resumed: bitwise the straight run.
  resumed = stopped_copy(enhance_run, str(tmp_path / "resumed"), 10)
  loop.train_and_evaluate(enhance_config(steps=20), resumed)
  assert digests(resumed) == digests(enhance_run)


def test_first_loss_is_the_identity_corrections(enhance_run):
  """The zero head predicts no correction, so step 1's loss is the MSE of
  the degraded batch to its jittered originals: recomputed here from the
  first batch and the step's keys, with the numpy definitions of the
  adjustments."""
  from tests.editing.test_adjust import np_degrade
  config = enhance_config()
  batch = next(iter(data.make_train_dataset(
      config.data, global_batch_size=config.train.batch_size, seed=0)))
  originals = (batch["image"].astype(np.float64) + 1) / 2
  key = jax.random.fold_in(jax.random.PRNGKey(config.train.seed), 0)
  ranges = config.degrade.to_dict()
  jitter = np.asarray(adjust.sample(jax.random.fold_in(key, 1),
                                    (len(originals),), ranges))
  assert config.degrade.target_jitter > 0  # the default is tested
  originals = np.stack([np_degrade(x, p * config.degrade.target_jitter)
                        for x, p in zip(originals, jitter)])
  params = np.asarray(adjust.sample(key, (len(originals),), ranges))
  degraded = np.stack([np.round(np_degrade(x, p) * 255) / 255
                       for x, p in zip(originals, params)])
  first = _rows(enhance_run)[0]
  expected = np.mean((degraded - originals) ** 2)
  assert first["loss"] == pytest.approx(expected, rel=1e-4)
  assert first["psnr"] == pytest.approx(first["psnr_degraded"], abs=1e-4)


def test_eval_scores_the_model_beside_the_baselines(enhance_run):
  row = commands.evaluate(enhance_run)
  assert row["step"] == 20 and row["num_images"] == 8
  for method in ("degraded", "enhanced", "equalize_adapthist",
                 "rescale_intensity", "rescale_intensity_per_channel",
                 "oracle"):
    assert np.isfinite(row[f"psnr_{method}"]), method
    assert 0 < row[f"ssim_{method}"] <= 1, method
  # 20 steps on digits already correct part of the degradation; the exact
  # inverse of the true parameters bounds what any prediction reaches.
  assert row["psnr_degraded"] < row["psnr_enhanced"] < row["psnr_oracle"]
  with pytest.raises(UserError, match="--num_samples"):
    commands.evaluate(enhance_run, num_samples=0)


def _write_images(folder):
  rng = np.random.default_rng(0)
  os.makedirs(folder / "sub")
  Image.fromarray(rng.integers(0, 256, (37, 53, 3), np.uint8)).save(
      folder / "colour.png")
  Image.fromarray(rng.integers(0, 256, (20, 30), np.uint8)).save(
      folder / "sub" / "gray.jpg")
  Image.fromarray(rng.integers(0, 256, (9, 11, 4), np.uint8)).save(
      folder / "sub" / "alpha.png")


def test_enhance_command_writes_every_image_and_one_json_line(enhance_run,
                                                             tmp_path):
  _write_images(tmp_path / "in")
  result = cli("enhance", f"--workdir={enhance_run}",
               f"--in={tmp_path / 'in'}", f"--out={tmp_path / 'out'}")
  assert result.returncode == 0, result.stderr
  lines = result.stdout.strip().splitlines()
  assert len(lines) == 1
  row = json.loads(lines[0])
  assert [i["name"] for i in row["images"]] == [
      "colour.png", "sub/alpha.png", "sub/gray.jpg"]
  assert row["num_images"] == 3 and row["step"] == 20
  modes = {}
  for item in row["images"]:
    picture = Image.open(tmp_path / "out" / item["name"])
    assert picture.size == (item["width"], item["height"])
    modes[item["name"]] = picture.mode
    assert set(item["params"]) == {"exposure", "white_balance", "contrast",
                                   "saturation", "tone_curve"}
  assert modes == {"colour.png": "RGB", "sub/alpha.png": "RGBA",
                   "sub/gray.jpg": "L"}
  # The alpha channel comes through untouched.
  np.testing.assert_array_equal(
      np.asarray(Image.open(tmp_path / "out" / "sub" / "alpha.png"))[..., 3],
      np.asarray(Image.open(tmp_path / "in" / "sub" / "alpha.png"))[..., 3])
  # The file written is the printed parameters applied to the input.
  from tests.editing.test_adjust import np_correct
  named = row["images"][0]["params"]
  knots = np.asarray(named["tone_curve"])
  vector = np.concatenate([
      [named["exposure"], named["white_balance"]["red"],
       named["white_balance"]["blue"], named["contrast"],
       named["saturation"]], np.log(np.maximum(np.diff(knots), 1e-12))])
  colour = np.asarray(Image.open(tmp_path / "in" / "colour.png")) / 255.0
  written = np.asarray(Image.open(tmp_path / "out" / "colour.png")) / 255.0
  # Parameters are printed to 4 decimals; pixels are rounded to 8 bits.
  assert np.abs(written - np_correct(colour, vector)).max() < 3 / 255


def test_bad_input_exits_2_with_one_message_and_changes_nothing(
    enhance_run, tmp_path):
  _write_images(tmp_path / "in")
  (tmp_path / "in" / "broken.png").write_bytes(b"not an image")
  (tmp_path / "out").mkdir()
  (tmp_path / "out" / "colour.png").write_bytes(b"keep")
  before = snapshot(str(tmp_path))
  result = cli("enhance", f"--workdir={enhance_run}",
               f"--in={tmp_path / 'in'}", f"--out={tmp_path / 'out'}",
               "--overwrite")
  assert result.returncode == 2
  assert "broken.png" in result.stderr
  assert len(result.stderr.strip().splitlines()) == 1
  assert snapshot(str(tmp_path)) == before
  os.remove(tmp_path / "in" / "broken.png")
  other = tmp_path / "other-run"
  other.mkdir()
  (other / "config.json").write_text(json.dumps(
      {"task": "classifier", "cnnjax_format": 2}))
  # A file cut short passes the header check and fails after a.png is done.
  (tmp_path / "cut").mkdir()
  whole = (tmp_path / "in" / "colour.png").read_bytes()
  (tmp_path / "cut" / "a.png").write_bytes(whole)
  (tmp_path / "cut" / "b.png").write_bytes(whole[:len(whole) // 2])
  before = snapshot(str(tmp_path))

  def refused(match, **kwargs):
    arguments = {"workdir": enhance_run, "source": str(tmp_path / "in"),
                 "out": str(tmp_path / "out"), "overwrite": True, **kwargs}
    with pytest.raises(UserError, match=match):
      enhance_command.enhance_images(**arguments)
    assert snapshot(str(tmp_path)) == before

  refused("colour.png; choose another --out or pass --overwrite",
          overwrite=False)
  refused("no such file or folder", source=str(tmp_path / "missing.png"))
  refused("must end with", source=str(tmp_path / "in" / "colour.png"),
          out=str(tmp_path / "colour.tif"))
  refused("alpha channel", source=str(tmp_path / "in" / "sub" / "alpha.png"),
          out=str(tmp_path / "alpha.jpg"))
  refused("holds a classifier run", workdir=str(other))
  refused("not a cnnjax workdir", workdir=str(tmp_path / "nowhere"))
  refused("b.png", source=str(tmp_path / "cut"))  # out/ stays as it was
