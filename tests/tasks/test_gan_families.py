"""Every GAN family trains from its config on 1 and on 8 devices (and the
two agree), resumes bitwise with spectral norm, EMA and DiffAugment on, and
samples conditionally where it applies."""

import json
import os

import jax
import numpy as np
import pytest
from PIL import Image

from cnnjax import commands, runs
from cnnjax.errors import UserError
from cnnjax.train import loop
from tests.conftest import digests, load_config

FAMILIES = ["dcgan", "mlp_gan", "lsgan", "sngan", "wgan_gp", "cgan"]


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
  runs = []
  for name, devices in placements:
    config = load_config(family, "tiny")
    config.train.num_steps = 2
    config.train.log_every_steps = 1
    workdir = str(tmp_path / name)
    loop.train_and_evaluate(config, workdir, devices=devices)
    rows = [json.loads(l) for l in open(os.path.join(workdir, "metrics.jsonl"))]
    assert [r["step"] for r in rows] == [1, 2]
    assert all(np.isfinite(r["d_loss"]) and np.isfinite(r["g_loss"])
               for r in rows)
    grid = np.asarray(Image.open(os.path.join(workdir, "samples",
                                              "step_2.png")), np.float32)
    runs.append((rows, grid))
  if len(runs) == 2:
    (rows_one, grid_one), (rows_eight, grid_eight) = runs
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
  # Stopped after step 1 and resumed on 8 devices: bitwise the straight run.
  config = load_config(family, "tiny")
  config.train.num_steps, config.train.log_every_steps = 1, 1
  resumed = str(tmp_path / "resumed")
  loop.train_and_evaluate(config, resumed)
  config.train.num_steps = 2
  loop.train_and_evaluate(config, resumed)
  assert digests(resumed) == digests(str(tmp_path / "eight"))


@pytest.mark.slow
def test_penalties_are_logged(tmp_path):
  config = load_config("wgan_gp", "tiny")
  config.train.num_steps, config.train.log_every_steps = 2, 1
  loop.train_and_evaluate(config, str(tmp_path / "gp"))
  row = json.loads(open(tmp_path / "gp" / "metrics.jsonl").readlines()[-1])
  assert row["gp"] > 0
  config = load_config("sngan", "tiny")
  config.loss.r1_gamma, config.loss.r1_every = 1.0, 2
  config.train.num_steps, config.train.log_every_steps = 2, 1
  loop.train_and_evaluate(config, str(tmp_path / "r1"))
  rows = [json.loads(l) for l in open(tmp_path / "r1" / "metrics.jsonl")]
  # Lazy R1 with r1_every=2 and n_critic=2: the first D update of every
  # step; each row reports the penalty it computed.
  assert len(rows) == 2 and all(r["r1"] > 0 for r in rows)


def _sngan_augmented():
  config = load_config("sngan", "tiny")
  config.augment.policy = "color,translation,cutout"
  config.augment.ada_target = 0.6
  config.augment.ada_kimg = 0.1  # p moves visibly within a few steps
  assert (config.ema.half_life_kimg > 0 and
          config.model.discriminator.spectral_norm)
  return config


@pytest.mark.slow
def test_spectral_norm_ema_augment_resume_is_bitwise(tmp_path):
  straight = _sngan_augmented()
  straight.train.num_steps = 4
  loop.train_and_evaluate(straight, str(tmp_path / "straight"))
  resumed = _sngan_augmented()
  resumed.train.num_steps = 2
  loop.train_and_evaluate(resumed, str(tmp_path / "resumed"))
  resumed.train.num_steps = 4
  loop.train_and_evaluate(resumed, str(tmp_path / "resumed"))
  a = digests(str(tmp_path / "straight"))
  b = digests(str(tmp_path / "resumed"))
  assert a == b
  state = runs.load(str(tmp_path / "straight")).state
  assert 0 < float(state.ada_p) <= 1
  # The power-iteration vectors are part of the checkpointed (and compared)
  # state.
  paths = [jax.tree_util.keystr(path) for path, _ in
           jax.tree_util.tree_flatten_with_path(
               state.discriminator.buffers)[0]]
  assert sum("['u']" in path for path in paths) >= 4, paths


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
