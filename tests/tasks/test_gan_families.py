"""Every GAN family trains from its config on 1 and on 8 devices (and the
two agree) and resumes bitwise, SNGAN with spectral norm, EMA, lazy R1,
DiffAugment and ADA all on, StyleGAN2 with lazy R1, path length
regularisation, style mixing and noise; conditional families sample by
class."""

import json
import os

import jax
import numpy as np
import pytest
from PIL import Image

from cnnjax import commands, runs
from cnnjax.errors import UserError
from cnnjax.train import loop
from tests.conftest import digests, load_config, stopped_copy

FAMILIES = ["dcgan", "mlp_gan", "lsgan", "sngan", "wgan_gp", "cgan",
            "stylegan2"]


@pytest.mark.slow
@pytest.mark.parametrize("family", FAMILIES)
def test_family_trains_on_one_and_eight_devices_and_resumes_bitwise(
    family, tmp_path):
  # One device against eight for the four architectures with their own
  # sharding concerns (batch norm, spectral norm, the critic's penalty,
  # class embeddings); mlp_gan and lsgan (DCGAN's network, another loss)
  # train and resume on eight only, to keep the suite within its time.
  placements = (("one", jax.devices()[:1]), ("eight", None))
  if family in ("mlp_gan", "lsgan"):
    placements = placements[1:]
  results = []
  for name, devices in placements:
    config = _config(family)
    config.train.num_steps = 2
    config.train.log_every_steps = 1
    config.train.checkpoint_every_steps = 1  # step 1's: the resume's start
    workdir = str(tmp_path / name)
    loop.train_and_evaluate(config, workdir, devices=devices)
    rows = [json.loads(l) for l in open(os.path.join(workdir, "metrics.jsonl"))]
    assert [r["step"] for r in rows] == [1, 2]
    assert all(np.isfinite(r["d_loss"]) and np.isfinite(r["g_loss"])
               for r in rows)
    # Each row reports the penalties its step computed: WGAN-GP's at every
    # D update; lazy R1 (r1_every=2, n_critic=2) at the first of each step.
    penalty = {"wgan_gp": "gp", "sngan": "r1"}.get(family)
    assert penalty is None or all(r[penalty] > 0 for r in rows), rows
    if family == "stylegan2":  # lazy R1 and path length, both every 2
      assert rows[0]["r1"] > 0 and rows[0]["pl_penalty"] > 0, rows
      assert rows[0]["pl_length"] > 0, rows
    grid = np.asarray(Image.open(os.path.join(workdir, "samples",
                                              "step_2.png")), np.float32)
    results.append((rows, grid))
  if len(results) == 2:
    (rows_one, grid_one), (rows_eight, grid_eight) = results
    # Losses and logits depend on every activation: a sharding bug (batch
    # norm over one device's rows, misplaced data) shows here first.
    for one, eight in zip(rows_one, rows_eight):
      for key in ("d_loss", "g_loss", "real_logit", "fake_logit"):
        np.testing.assert_allclose(one[key], eight[key], rtol=1e-3,
                                   atol=1e-5)
    # The trained generators agree on the fixed latents. (Parameters are
    # not compared one by one: a bias feeding batch norm has a true
    # gradient of 0, and Adam turns its float noise into steps of +-lr on
    # any device count; what the parameters compute is unaffected.)
    assert np.abs(grid_one - grid_eight).max() <= 2.0  # uint8 levels
  # Stopped after step 1 and resumed on 8 devices: bitwise the straight
  # run. The stop is the straight run's workdir without its step-2
  # checkpoint (no second run to step 1: one launch less to trace).
  resumed = stopped_copy(str(tmp_path / "eight"), str(tmp_path / "resumed"),
                         1)
  config = _config(family)
  config.train.num_steps, config.train.log_every_steps = 2, 1
  config.train.checkpoint_every_steps = 1
  loop.train_and_evaluate(config, resumed)
  assert digests(resumed) == digests(str(tmp_path / "eight"))
  if family == "sngan":
    state = runs.load(resumed).state
    assert 0 < float(state.ada_p) <= 1
    # The power-iteration vectors are part of the checkpointed (and
    # compared) state.
    paths = [jax.tree_util.keystr(path) for path, _ in
             jax.tree_util.tree_flatten_with_path(
                 state.discriminator.buffers)[0]]
    assert sum("['u']" in path for path in paths) >= 4, paths


def _config(family):
  """The family's tiny config; SNGAN's with every option of a GAN step on
  at once (their state must all resume and shard)."""
  config = load_config(family, "tiny")
  if family == "sngan":
    config.loss.r1_gamma, config.loss.r1_every = 1.0, 2
    config.augment.policy = "color,translation,cutout"
    config.augment.ada_target = 0.6
    config.augment.ada_kimg = 0.1  # p moves visibly within a step
    assert (config.ema.half_life_kimg > 0 and
            config.model.discriminator.spectral_norm)
  return config


@pytest.fixture(scope="module")
def conditional_run(tmp_path_factory):
  config = load_config("cgan", "tiny")
  config.train.num_steps = 2
  workdir = str(tmp_path_factory.mktemp("cgan"))
  result = loop.train_and_evaluate(config, workdir)
  return workdir, result


def test_conditional_grid_has_a_row_per_class(conditional_run, tmp_path):
  workdir, result = conditional_run
  grid = Image.open(result["samples"])
  assert grid.size[1] == 10 * 34 + 2  # ten rows of 32 px + 2 px padding
  out = str(tmp_path / "all.png")
  info = commands.sample(workdir, 30, out)
  assert info["num"] == 30 and Image.open(out).size == (3 * 34 + 2, 10 * 34 + 2)


def test_sample_one_class(conditional_run, tmp_path):
  workdir, _ = conditional_run
  out = str(tmp_path / "three.png")
  info = commands.sample(workdir, 16, out, class_label=3)
  assert info["class"] == 3 and info["ema"]  # cgan keeps an EMA generator
  with pytest.raises(UserError, match="0..9"):
    commands.sample(workdir, 4, str(tmp_path / "x.png"), class_label=12)


def test_class_changes_the_sample(conditional_run, tmp_path):
  workdir, _ = conditional_run
  pictures = []
  for label in (0, 7):
    out = str(tmp_path / f"c{label}.png")
    commands.sample(workdir, 4, out, class_label=label, seed=1)
    pictures.append(np.asarray(Image.open(out), np.float32))
  assert np.abs(pictures[0] - pictures[1]).mean() > 0


def _cells(path, rows, columns):
  grid = np.asarray(Image.open(path), np.float32)
  return np.stack([[grid[2 + r * 34:r * 34 + 34, 2 + c * 34:c * 34 + 34]
                    for c in range(columns)] for r in range(rows)])


def test_stylegan2_truncation_noise_and_style_mixing(stylegan2_run,
                                                     conditional_run,
                                                     tmp_path):
  out = str(tmp_path / "psi0.png")
  info = commands.sample(stylegan2_run, 4, out, truncation=0.0,
                         noise_mode="const")
  assert (info["truncation"], info["noise_mode"]) == (0.0, "const")
  cells = _cells(out, 2, 2).reshape(4, 32, 32)
  assert np.abs(cells - cells[0]).max() == 0  # psi = 0: all are w_avg's
  plain = str(tmp_path / "plain.png")
  commands.sample(stylegan2_run, 4, plain)
  cells = _cells(plain, 2, 2).reshape(4, 32, 32)
  assert np.abs(cells - cells[0]).max() > 0
  # The truncation figure: a row per psi, the same latents in each (psi
  # 0: w_avg's image in every column, with constant noise).
  rows = str(tmp_path / "psis.png")
  info = commands.sample(stylegan2_run, 4, rows, truncation=[1.0, 0.0],
                         noise_mode="const")
  assert info["truncation"] == [1.0, 0.0]
  cells = _cells(rows, 2, 4)
  const = str(tmp_path / "const.png")
  commands.sample(stylegan2_run, 4, const, noise_mode="const")
  np.testing.assert_array_equal(cells[0],
                                _cells(const, 2, 2).reshape(4, 32, 32))
  assert np.abs(cells[1] - cells[1][0]).max() == 0
  with pytest.raises(UserError, match="one --truncation"):
    commands.sample(stylegan2_run, 3, str(tmp_path / "z.png"), style_mix=2,
                    truncation=[1.0, 0.5])
  # Style mixing: a (3 + 1) x (3 + 1) grid whose first row and column are
  # the plain images of the column and row latents.
  mixed = str(tmp_path / "mix.png")
  commands.sample(stylegan2_run, 3, mixed, style_mix=2)
  assert Image.open(mixed).size == (4 * 34 + 2, 4 * 34 + 2)
  for bad, match in (({"style_mix": 99}, "1..7"),
                     ({"noise_mode": "fresh"}, "random, const, none"),
                     ({"style_mix": 2, "class_label": 3}, "unconditional")):
    with pytest.raises(UserError, match=match):
      commands.sample(stylegan2_run, 4, str(tmp_path / "x.png"), **bad)
  with pytest.raises(UserError, match="W space"):
    commands.sample(conditional_run[0], 4, str(tmp_path / "y.png"),
                    truncation=0.5)
