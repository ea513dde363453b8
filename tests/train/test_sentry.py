"""A step whose losses or state are not finite, through the real CLI: with
`stop` the run ends with one message and keeps its last good checkpoint;
with `rollback` it returns to that checkpoint, skips the batches that led to
the divergence and finishes. Both resume bitwise."""

import json
import os
import shutil

import pytest

from cnnjax import tasks
from tests.conftest import cli, digests

# What tests/train/toy_config.py does in the CLI's process, for `digests`.
tasks.TASKS.setdefault("toy", "tests.train.test_loop:ToyTask")

TINY = "configs/dcgan.py:tiny"
TOY = "tests/train/toy_config.py:poison"


def _checkpoints(workdir):
  return sorted(int(s) for s in os.listdir(os.path.join(workdir, "checkpoints"))
                if s.isdigit())


@pytest.mark.slow
def test_stop_keeps_the_last_good_checkpoint_and_resumes(tmp_path):
  workdir = str(tmp_path / "run")
  first = cli("train", f"--config={TINY}", f"--workdir={workdir}",
              "--config.train.num_steps=10")
  assert first.returncode == 0, first.stderr[-3000:]
  good = digests(workdir)
  huge = ["--allow_config_change", "--config.optim.g_lr=1e30",
          "--config.optim.d_lr=1e30"]
  diverged = cli("train", f"--config={TINY}", f"--workdir={workdir}", *huge)
  assert diverged.returncode == 1, diverged.stderr[-3000:]
  assert "Training diverged at step" in diverged.stderr
  assert "last good checkpoint, of step 10, is kept" in diverged.stderr
  assert "Traceback" not in diverged.stderr
  assert _checkpoints(workdir) == [10]  # nothing non-finite was saved
  assert digests(workdir) == good
  # Back to the config's learning rates: it resumes from step 10 and ends
  # as a straight 20-step run.
  resumed = cli("train", f"--config={TINY}", f"--workdir={workdir}",
                "--allow_config_change")
  assert resumed.returncode == 0, resumed.stderr[-3000:]
  assert "Resuming from the checkpoint of step 10" in resumed.stderr
  straight = str(tmp_path / "straight")
  assert cli("train", f"--config={TINY}",
             f"--workdir={straight}").returncode == 0
  assert digests(workdir) == digests(straight)


@pytest.fixture(scope="module")
def rolled_back(tmp_path_factory):
  """The toy task whose step-17 batch is poisoned, trained to 24 steps with
  rollbacks (log every 2, checkpoints every 4)."""
  workdir = str(tmp_path_factory.mktemp("toy") / "run")
  result = cli("train", f"--config={TOY}", f"--workdir={workdir}",
               "--config.train.on_nonfinite=rollback")
  return workdir, result


def test_rollback_skips_the_bad_batches_and_finishes(rolled_back):
  workdir, result = rolled_back
  assert result.returncode == 0, result.stderr[-3000:]
  assert "Training diverged at step 18" in result.stderr
  assert "Rolled back to the checkpoint of step 16" in result.stderr
  with open(os.path.join(workdir, "rollbacks.json")) as f:
    assert json.load(f) == [{"step": 16, "diverged_at": 18,
                             "skipped_batches": 2}]
  rows = [json.loads(l) for l in open(os.path.join(workdir, "metrics.jsonl"))]
  losses = [r for r in rows if "loss" in r]
  assert [r["step"] for r in losses] == list(range(2, 26, 2))
  assert all(r["loss"] == r["loss"] for r in losses)  # no NaN was logged
  assert _checkpoints(workdir)[-1] == 24


def test_a_rollback_resumes_bitwise(rolled_back, tmp_path):
  """Killed after the rollback and before its next checkpoint: resuming
  from step 16 skips the recorded batches (even though, logging every
  step, it would now notice the divergence a step earlier) and ends as the
  run that never stopped."""
  workdir, _ = rolled_back
  killed = str(tmp_path / "killed")
  shutil.copytree(workdir, killed)
  for step in _checkpoints(killed):
    if step > 16:
      shutil.rmtree(os.path.join(killed, "checkpoints", str(step)))
  result = cli("train", f"--config={TOY}", f"--workdir={killed}",
               "--config.train.on_nonfinite=rollback",
               "--config.train.log_every_steps=1")
  assert result.returncode == 0, result.stderr[-3000:]
  assert "Skipping the 2 batches" in result.stderr
  assert "diverged" not in result.stderr
  assert digests(killed) == digests(workdir)


def test_the_rollbacks_are_bounded(tmp_path):
  result = cli("train", f"--config={TOY}", f"--workdir={tmp_path / 'run'}",
               "--config.train.on_nonfinite=rollback",
               "--config.train.max_rollbacks=0")
  assert result.returncode == 1, result.stderr[-3000:]
  assert "rolled back 0 times already" in result.stderr
  assert "last good checkpoint, of step 16, is kept" in result.stderr
  assert "Traceback" not in result.stderr
