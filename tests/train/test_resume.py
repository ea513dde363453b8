"""Resume is exact: a stopped-and-resumed run ends bitwise equal to a
straight one, whichever way it was stopped.

Compared through `cnnjax inspect`'s digests of the whole train state
(parameters, batch statistics, both optimizer states, step and RNG), plus
the metrics log, which a resumed run must continue without duplicates.
"""

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from cnnjax import commands
from cnnjax.errors import CheckpointError
from cnnjax.train import loop
from tests.conftest import REPO, cli, digests, load_config, snapshot

TINY = "configs/dcgan.py:tiny"


@pytest.fixture(scope="module")
def straight(tmp_path_factory):
  """Digests of straight tiny runs, by number of steps (computed on demand)."""
  cache = {}

  def straight_digests(num_steps: int) -> dict:
    if num_steps not in cache:
      config = load_config("dcgan", "tiny")
      config.train.num_steps = num_steps
      workdir = str(tmp_path_factory.mktemp(f"straight{num_steps}"))
      loop.train_and_evaluate(config, workdir)
      cache[num_steps] = digests(workdir)
    return cache[num_steps]

  return straight_digests


def _steps_logged(workdir):
  with open(os.path.join(workdir, "metrics.jsonl")) as f:
    return [json.loads(line)["step"] for line in f]


def test_stop_by_num_steps_then_relaunch(straight, tmp_path):
  workdir = str(tmp_path / "run")
  assert cli("train", f"--config={TINY}", f"--workdir={workdir}",
             "--config.train.num_steps=10").returncode == 0
  result = cli("train", f"--config={TINY}", f"--workdir={workdir}",
               "--config.train.num_steps=20")
  assert result.returncode == 0, result.stderr[-3000:]
  assert "Resuming from the checkpoint of step 10" in result.stderr
  assert digests(workdir) == straight(20)
  assert _steps_logged(workdir) == [5, 10, 15, 20]


def _start(workdir, *overrides):
  return subprocess.Popen(
      [sys.executable, "-m", "cnnjax.main", "train", f"--config={TINY}",
       f"--workdir={workdir}", "--config.train.num_steps=100000",
       "--config.train.log_every_steps=1", *overrides],
      cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _wait_for(condition, process, timeout=180):
  deadline = time.time() + timeout
  while not condition():
    if process.poll() is not None:
      raise AssertionError(f"training exited early: {process.communicate()}")
    if time.time() > deadline:
      process.kill()
      raise AssertionError("timed out waiting for training")
    time.sleep(0.05)


def _resume_and_compare(workdir, stopped_at, straight):
  num_steps = max(40, stopped_at + 5)
  result = cli("train", f"--config={TINY}", f"--workdir={workdir}",
               f"--config.train.num_steps={num_steps}",
               "--config.train.log_every_steps=1")
  assert result.returncode == 0, result.stderr[-3000:]
  assert f"Resuming from the checkpoint of step {stopped_at}" in result.stderr
  assert digests(workdir) == straight(num_steps)
  assert _steps_logged(workdir) == list(range(1, num_steps + 1))


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_stop_by_signal_saves_and_exits_zero(straight, tmp_path, sig):
  workdir = str(tmp_path / "run")
  process = _start(workdir, "--config.train.checkpoint_every_steps=100000")
  _wait_for(lambda: os.path.exists(os.path.join(workdir, "metrics.jsonl"))
            and len(_steps_logged(workdir)) >= 3, process)
  process.send_signal(sig)
  stdout, stderr = process.communicate(timeout=120)
  assert process.returncode == 0, stderr[-3000:]
  assert f"Stopped on {sig.name}" in stdout
  steps = [int(s) for s in os.listdir(os.path.join(workdir, "checkpoints"))]
  assert len(steps) == 1 and steps[0] >= 3
  _resume_and_compare(workdir, steps[0], straight)


@pytest.mark.slow
def test_kill_9_resumes_from_last_checkpoint(straight, tmp_path):
  workdir = str(tmp_path / "run")
  checkpoints = os.path.join(workdir, "checkpoints")
  process = _start(workdir, "--config.train.checkpoint_every_steps=5")
  _wait_for(lambda: os.path.isdir(checkpoints) and any(
      s.isdigit() for s in os.listdir(checkpoints)), process)
  process.kill()
  process.communicate()
  saved = sorted(int(s) for s in os.listdir(checkpoints) if s.isdigit())
  assert saved  # orbax's temporary directories are ignored on restore
  _resume_and_compare(workdir, saved[-1], straight)


def _corrupt(workdir, step):
  state_dir = os.path.join(workdir, "checkpoints", str(step), "state")
  for root, _, files in os.walk(state_dir):
    for name in files:
      with open(os.path.join(root, name), "wb") as f:
        f.write(b"not a checkpoint")


def test_corrupted_newest_falls_back_and_is_kept(straight, tmp_path):
  config = load_config("dcgan", "tiny")
  workdir = str(tmp_path / "run")
  loop.train_and_evaluate(config, workdir)
  _corrupt(workdir, 20)
  result = cli("train", f"--config={TINY}", f"--workdir={workdir}")
  assert result.returncode == 0, result.stderr[-3000:]
  assert "could not be read" in result.stderr
  assert "Resuming from the checkpoint of step 10" in result.stderr
  assert digests(workdir) == straight(20)
  aside = os.listdir(os.path.join(workdir, "checkpoints_unreadable"))
  assert len(aside) == 1 and aside[0].startswith("20.")


def test_unreadable_checkpoints_exit_2_and_stay(tmp_path):
  config = load_config("dcgan", "tiny")
  workdir = str(tmp_path / "run")
  loop.train_and_evaluate(config, workdir)
  _corrupt(workdir, 10)
  _corrupt(workdir, 20)
  before = snapshot(workdir)
  for args in (["train", f"--config={TINY}"],
               ["train", f"--config={TINY}", "--allow_config_change",
                "--config.optim.g_lr=0.001"], ["inspect"],
               ["sample", f"--out={tmp_path / 's.png'}"]):
    result = cli(*args, f"--workdir={workdir}")
    assert result.returncode == 2, result.stderr[-3000:]
    assert "be read" in result.stderr and "Traceback" not in result.stderr
  assert snapshot(workdir) == before  # config.json included
  with pytest.raises(CheckpointError):
    commands.inspect(workdir, step=10)


def _flip_bytes(path, every=None):
  """Flips the middle byte, or with `every` one byte in each `every`: the
  largest data file also holds bytes nothing references any more (OCDBT's
  superseded nodes), so its middle byte alone is not sure to be read."""
  with open(path, "r+b") as f:
    data = bytearray(f.read())
    for i in (range(every // 2, len(data), every) if every
              else [len(data) // 2]):
      data[i] ^= 0xFF
    f.seek(0)
    f.write(data)


def _state_data_files(step_dir):
  """The files holding the state's arrays, largest first."""
  found = [os.path.join(root, name)
           for root, _, names in os.walk(os.path.join(step_dir, "state"))
           for name in names if os.path.basename(root) == "d"]
  return sorted(found, key=os.path.getsize, reverse=True)


@pytest.fixture(scope="module")
def trained_20(tmp_path_factory):
  workdir = str(tmp_path_factory.mktemp("trained20") / "run")
  loop.train_and_evaluate(load_config("dcgan", "tiny"), workdir)
  return workdir


@pytest.mark.slow
@pytest.mark.parametrize("damage", ["largest array file", "data iterator",
                                    "digest", "state metadata",
                                    "each array file"])
def test_a_flipped_byte_is_detected_and_training_falls_back(
    straight, trained_20, tmp_path, damage):
  """Bytes that change in a checkpoint after it was written (a disk, a bad
  copy) are caught by its digests: `inspect` refuses it, training moves it
  aside, resumes from the one before and ends as a straight run. A flip in
  bytes that nothing reads (the storage's superseded nodes) may go
  unnoticed, but then what is restored is exactly what was saved."""
  import shutil
  fresh = lambda: shutil.copytree(trained_20, str(tmp_path / "run"),
                                  dirs_exist_ok=False)
  step_dir = os.path.join(trained_20, "checkpoints", "20")
  arrays = _state_data_files(step_dir)
  targets = {"largest array file": [arrays[0]],
             "data iterator": [os.path.join(step_dir, "data",
                                            "process_0-of-1.json")],
             "digest": [os.path.join(step_dir, "digest", "metadata")],
             "state metadata": [os.path.join(step_dir, "state", "_METADATA")],
             # a spread sample of the rest: each costs one `inspect`
             "each array file": arrays[1::3]}[damage]
  detected = 0
  for target in targets:
    workdir = str(tmp_path / "run")
    shutil.rmtree(workdir, ignore_errors=True)
    fresh()
    _flip_bytes(target.replace(trained_20, workdir),
                every=64 if damage == "largest array file" else None)
    inspected = cli("inspect", f"--workdir={workdir}", "--step=20")
    assert "Traceback" not in inspected.stderr, inspected.stderr[-2000:]
    if inspected.returncode == 0:  # nothing that is read was damaged
      assert json.loads(inspected.stdout.splitlines()[-1])["state_sha256"] \
          == straight(20)["state_sha256"]
      continue
    detected += 1
    assert inspected.returncode == 2 and "cannot be read" in inspected.stderr
    if damage == "each array file":
      continue  # one relaunch below is enough for these
    result = cli("train", f"--config={TINY}", f"--workdir={workdir}")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "could not be read" in result.stderr
    assert "Resuming from the checkpoint of step 10" in result.stderr
    assert digests(workdir) == straight(20)
    aside = os.listdir(os.path.join(workdir, "checkpoints_unreadable"))
    assert len(aside) == 1 and aside[0].startswith("20.")
  if damage != "each array file":  # there, either outcome is right per file
    # one in 64 of the largest file's bytes cannot all fall in unread bytes
    assert detected == 1


TIMINGS = ("steps_per_sec", "images_per_sec", "wall_time")


def _rows(workdir):
  with open(os.path.join(workdir, "metrics.jsonl")) as f:
    return [{k: v for k, v in json.loads(line).items() if k not in TIMINGS}
            for line in f]


@pytest.mark.slow
def test_logs_of_stopped_runs_equal_a_straight_runs(tmp_path):
  """Log rows every 4 steps, checkpoints every 3 (or at a signal): killed,
  signalled or extended runs resume between log steps, and their
  metrics.jsonl is the straight run's in every non-timing field."""
  config = load_config("dcgan", "tiny")
  config.train.num_steps, config.train.log_every_steps = 24, 4
  straight = str(tmp_path / "straight")
  loop.train_and_evaluate(config, straight)
  expected = _rows(straight)
  assert [r["step"] for r in expected] == [4, 8, 12, 16, 20, 24]
  common = ["--config.train.log_every_steps=4"]

  def resume(workdir):
    result = cli("train", f"--config={TINY}", f"--workdir={workdir}",
                 "--config.train.num_steps=24", *common)
    assert result.returncode == 0, result.stderr[-3000:]
    return result

  killed = str(tmp_path / "killed")
  process = _start(killed, *common, "--config.train.checkpoint_every_steps=3")
  checkpoints = os.path.join(killed, "checkpoints")
  _wait_for(lambda: os.path.isdir(checkpoints) and any(
      s.isdigit() and int(s) >= 5 for s in os.listdir(checkpoints)), process)
  process.kill()
  process.communicate()
  assert "Resuming from the checkpoint of step" in resume(killed).stderr
  assert _rows(killed) == expected

  signalled = str(tmp_path / "signalled")
  process = _start(signalled, *common,
                   "--config.train.checkpoint_every_steps=100000")
  _wait_for(lambda: os.path.exists(os.path.join(signalled, "metrics.jsonl"))
            and len(_steps_logged(signalled)) >= 1, process)
  process.send_signal(signal.SIGTERM)
  process.communicate(timeout=120)
  stopped = [int(s) for s in os.listdir(os.path.join(signalled,
                                                     "checkpoints"))]
  resume(signalled)
  assert _rows(signalled) == expected, stopped

  extended = str(tmp_path / "extended")
  config.train.num_steps = 7
  loop.train_and_evaluate(config, extended)
  resume(extended)
  rows = _rows(extended)
  assert [r["step"] for r in rows] == [4, 7, 8, 12, 16, 20, 24]
  assert [r for r in rows if r["step"] != 7] == expected


@pytest.mark.parametrize("file,content,message", [
    ("metrics.jsonl", '{"step": 5, "d_loss": 1.0}\nnot json\n'
     '{"step": 10, "d_loss": 1.0}\n', "metrics.jsonl line 2"),
    ("metrics.jsonl", '[5, 1.0]\n', "metrics.jsonl line 1"),
    ("metrics.jsonl", '{"step": "five"}\n', "metrics.jsonl line 1"),
    ("rollbacks.json", '{"step": 10', "rollbacks.json cannot be read"),
    ("config.json", '{"task": "gan"', "config.json cannot be read"),
])
def test_malformed_workdir_files_leave_the_workdir_unchanged(
    trained_20, tmp_path, file, content, message):
  import shutil
  workdir = str(tmp_path / "run")
  shutil.copytree(trained_20, workdir)
  with open(os.path.join(workdir, file), "w") as f:
    f.write(content)
  before = snapshot(workdir)
  result = cli("train", f"--config={TINY}", f"--workdir={workdir}",
               "--config.train.num_steps=30")
  assert result.returncode == 2, result.stderr[-3000:]
  assert message in result.stderr and "Traceback" not in result.stderr
  assert snapshot(workdir) == before


def test_a_torn_last_metrics_row_is_dropped_on_resume(trained_20, tmp_path):
  """kill -9 during a write leaves a last line without its newline: that
  one is a torn row, not a user's edit, and the resume drops it."""
  import shutil
  workdir = str(tmp_path / "run")
  shutil.copytree(trained_20, workdir)
  with open(os.path.join(workdir, "metrics.jsonl"), "a") as f:
    f.write('{"step": 25, "d_lo')
  result = cli("train", f"--config={TINY}", f"--workdir={workdir}",
               "--config.train.num_steps=30")
  assert result.returncode == 0, result.stderr[-3000:]
  assert _steps_logged(workdir) == [5, 10, 15, 20, 25, 30]
