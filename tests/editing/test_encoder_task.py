"""The encoder task: warm-started from a GAN run, trained by the shared loop
on 1 and 8 devices with equal results, resumed bitwise, its generator
frozen, its losses those of the docstring, and evaluated by `cnnjax eval`."""

import json
import os

import jax
import numpy as np
import pytest

from cnnjax import commands, runs
from cnnjax.errors import ConfigError, UserError
from cnnjax.train import loop
from tests.conftest import digests, load_config, stopped_copy


def encoder_config(gan_workdir, steps=2, arg=""):
  config = load_config("encoder", f"gan={gan_workdir},tiny{arg}")
  config.train.num_steps = steps
  config.train.log_every_steps = 1
  return config


def _rows(workdir):
  with open(os.path.join(workdir, "metrics.jsonl")) as f:
    return [json.loads(line) for line in f if '"loss"' in line]


@pytest.mark.slow
def test_encoder_trains_on_one_and_eight_devices_and_resumes_bitwise(
    gan_run, tmp_path):
  rows = {}
  for name, devices in (("one", jax.devices()[:1]), ("eight", None)):
    workdir = str(tmp_path / name)
    config = encoder_config(gan_run)
    config.train.checkpoint_every_steps = 1  # step 1's: the resume's start
    loop.train_and_evaluate(config, workdir, devices=devices)
    rows[name] = _rows(workdir)
  assert [r["step"] for r in rows["one"]] == [1, 2]
  for one, eight in zip(rows["one"], rows["eight"]):
    for key in ("loss", "latent_loss", "pixel_loss", "perceptual_loss",
                "prior_loss", "generated_pixel_loss"):
      np.testing.assert_allclose(one[key], eight[key], rtol=1e-4, atol=1e-6)
  # The generator is the GAN's, untouched by training.
  gan = runs.load(gan_run)
  encoder = runs.load(str(tmp_path / "eight"))
  for a, b in zip(jax.tree.leaves(gan.state.generator),
                  jax.tree.leaves(encoder.state.generator)):
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
  # Stopped after step 1 and resumed: bitwise the straight 8-device run.
  resumed = stopped_copy(str(tmp_path / "eight"), str(tmp_path / "resumed"),
                         1)
  loop.train_and_evaluate(config, resumed)
  assert digests(resumed) == digests(str(tmp_path / "eight"))


def test_first_step_losses_match_an_independent_computation(gan_run,
                                                             tmp_path):
  """The logged losses of step 1, recomputed outside the task from the
  initial encoder (whose zero head maps every image to z = 0)."""
  config = encoder_config(gan_run, steps=1)
  loop.train_and_evaluate(config, str(tmp_path / "run"),
                          devices=jax.devices()[:1])
  logged = _rows(str(tmp_path / "run"))[0]
  assert logged["prior_loss"] == pytest.approx(1.0)  # (0 - 1)^2
  gan = runs.load(gan_run)
  from cnnjax.editing import generator as generator_lib
  gen = generator_lib.read(gan_run)
  blank = np.asarray(gen.generate(gen.weights, np.zeros((1, 16),
                                                        np.float32)))
  # Every generated image is regenerated as G(0).
  key = jax.random.fold_in(jax.random.PRNGKey(config.train.seed), 0)
  z = jax.random.normal(jax.random.fold_in(key, 1), (16, 16))
  generated = np.asarray(gen.generate(gen.weights, z))
  assert logged["latent_loss"] == pytest.approx(float(np.mean(z ** 2)),
                                                rel=1e-5)
  assert logged["generated_pixel_loss"] == pytest.approx(
      float(np.mean((generated - blank) ** 2)), rel=1e-4, abs=1e-7)
  del gan


def test_eval_of_an_encoder_run_reports_reconstruction_metrics(gan_run,
                                                               tmp_path):
  workdir = str(tmp_path / "run")
  loop.train_and_evaluate(encoder_config(gan_run, steps=2), workdir)
  row = commands.evaluate(workdir)
  assert row["num_images"] == 32
  for key in ("mse", "psnr", "ssim", "feature_distance", "class_agreement",
              "fid_reconstructions", "fid_originals", "images_per_second"):
    assert np.isfinite(row[key]), key
  assert 0 <= row["class_agreement"] <= 1
  # PSNR is MSE's, at data range 2, per image: the mean of logs is at most
  # the log of the mean.
  assert row["psnr"] >= 10 * np.log10(4 / row["mse"]) - 1e-6


def test_config_needs_a_gan_run(gan_run, tmp_path):
  with pytest.raises(UserError, match="needs the GAN run"):
    load_config("encoder", "tiny")
  config = encoder_config(gan_run)
  config.init_from.workdir = ""
  config.init_from.subtree = ""
  with pytest.raises(ConfigError, match="init_from.workdir"):
    loop.train_and_evaluate(config, str(tmp_path / "x"))
  config = encoder_config(gan_run)
  config.model.encoder.latent_dim = 7
  with pytest.raises(ConfigError, match="latent_dim"):
    loop.train_and_evaluate(config, str(tmp_path / "y"))
  assert not os.path.exists(tmp_path / "y" / "checkpoints")
