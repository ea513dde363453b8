"""`cnnjax sweep`: sweep files, run names, status, the local backend, and a
killed sweep resumed to the digests of straight runs."""

import json
import os
import signal
import subprocess
import sys
import time

import jax
import numpy as np
import pytest

from cnnjax import config as config_lib
from cnnjax.errors import UserError
from cnnjax.launch import product, spec, status as status_lib, zipped
from cnnjax.train import loop
from cnnjax.utils import provenance, workdir_lock
from tests.conftest import REPO, cli, xla_flags, digests

TINY = os.path.join(REPO, "configs", "dcgan.py") + ":tiny"


def write_sweep(tmp_path, body: str, name: str = "s") -> str:
  path = tmp_path / f"{name}.py"
  path.write_text("from cnnjax.launch import product, zipped\n\n"
                  "def get_sweep(arg=None):\n" + body)
  return str(path)


def test_product_zip_and_names(tmp_path):
  assert product({"a": [1, 2]}, {"b": [3, 4]}) == [
      {"a": 1, "b": 3}, {"a": 1, "b": 4}, {"a": 2, "b": 3}, {"a": 2, "b": 4}]
  assert zipped(a=[1, 2], b=[3, 4]) == [{"a": 1, "b": 3}, {"a": 2, "b": 4}]
  with pytest.raises(UserError, match="differ in length"):
    zipped(a=[1], b=[3, 4])
  # Only what differs names a run; two keys that end alike keep their path;
  # a run of another config is named by its file.
  runs = [{"optim.g_lr": 1e-4, "model.generator.base_width": 8,
           "model.discriminator.base_width": 8, "train.seed": 0},
          {"optim.g_lr": 1e-4, "model.generator.base_width": 16,
           "model.discriminator.base_width": 8, "train.seed": 0}]
  assert spec.run_names(runs, [TINY, TINY]) == ["base_width=8",
                                                "base_width=16"]
  runs.append({**runs[1], "model.discriminator.base_width": 16})
  assert spec.run_names(runs, [TINY] * 3) == [
      "model.generator.base_width=8,model.discriminator.base_width=8",
      "model.generator.base_width=16,model.discriminator.base_width=8",
      "model.generator.base_width=16,model.discriminator.base_width=16"]
  # A field that only follows another part of the name is left out: the
  # step counts of a sweep of families.
  sngan = os.path.join(REPO, "configs", "sngan.py") + ":tiny"
  assert spec.run_names([{"train.num_steps": 30, "train.seed": 0},
                         {"train.num_steps": 6, "train.seed": 0},
                         {"train.num_steps": 6, "train.seed": 1}],
                        [TINY, sngan, sngan]) == [
      "dcgan,seed=0", "sngan,seed=0", "sngan,seed=1"]
  lsgan = os.path.join(REPO, "configs", "lsgan.py") + ":tiny"
  assert spec.run_names([{"train.seed": 0}, {"train.seed": 0}],
                        [TINY, lsgan]) == ["dcgan", "lsgan"]
  assert spec.run_names([{}], [TINY]) == ["run"]
  # Relative configs are found above the sweep file, and per run.
  sweep = spec.load(write_sweep(tmp_path, (
      "  return {'config': 'configs/dcgan.py:tiny',\n"
      "          'runs': product({'train.seed': [0, 1]}) +\n"
      "                  [{'config': 'configs/lsgan.py:tiny'}]}\n")))
  assert [r.name for r in sweep.runs] == ["dcgan,seed=0", "dcgan,seed=1",
                                          "lsgan"]
  assert sweep.name == "s"
  config = spec.build_config(sweep.runs[1])
  assert config.train.seed == 1 and config.loss.name == "non_saturating"


def test_config_arguments_take_variants():
  from tests.conftest import load_config
  config = load_config("sngan", "fashion_mnist,width=48,steps=7,seed=3")
  assert config.model.generator.base_width == 48
  assert config.model.discriminator.base_width == 48
  assert (config.train.num_steps, config.train.seed) == (7, 3)
  with pytest.raises(config_lib.ConfigError, match="Unknown config variant"):
    load_config("dcgan", "tiny,wide=2")
  with pytest.raises(config_lib.ConfigError, match="is not an int"):
    load_config("dcgan", "tiny,width=wide")


@pytest.mark.parametrize("name", sorted(
    f[:-3] for f in os.listdir(os.path.join(REPO, "configs", "sweeps"))
    if f.endswith(".py")))
def test_shipped_sweeps_resolve(name):
  """Every run of each shipped sweep file (and of its tiny form) builds a
  config its task accepts, as `cnnjax sweep` checks before launching."""
  from cnnjax.launch import sweep as sweep_lib
  path = os.path.join(REPO, "configs", "sweeps", name + ".py")
  for arg in ("", ":tiny"):
    loaded = spec.load(path + arg)
    names = [run.name for run in loaded.runs]
    assert len(set(names)) == len(names) > 0
    for run in loaded.runs:
      sweep_lib._checked_config(run, 1)


@pytest.mark.parametrize("body,message", [
    ("  return {'config': 'configs/dcgan.py:tiny', 'runs': [\n", "syntax"),
    ("  return {'config': 'configs/dcgan.py:tiny', 'runs': []}\n",
     "has no runs"),
    ("  return {'config': 'configs/dcgan.py:tiny', 'runs': [{}],"
     " 'ruts': 1}\n", "unknown key"),
    ("  return {'config': 'configs/dcgan.py:tiny',\n"
     "          'runs': [{'train.num_step': 5}]}\n",
     "no config field 'train.num_step' (did you mean 'train.num_steps'?)"),
    ("  return {'config': 'configs/dcgan.py:tiny',\n"
     "          'runs': [{'train.seed': 1}, {'train.seed': 1}]}\n",
     "several runs would be named run"),
    ("  return {'config': 'configs/dcgan.py:tiny',\n"
     "          'runs': [{'train.num_steps': 'many'}]}\n", "num_steps"),
    ("  return {'config': 'configs/dcgan.py:tiny',\n"
     "          'runs': [{'train.batch_size': 0}]}\n", "batch_size"),
    ("  raise KeyError('no such variant')\n", "raised KeyError"),
    ("  return {'config': 'configs/nope.py', 'runs': [{}]}\n",
     "no config file"),
])
def test_bad_sweep_files_are_one_message(tmp_path, body, message):
  path = write_sweep(tmp_path, body)
  result = cli("sweep", path, f"--root={tmp_path / 'root'}")
  assert result.returncode == 2, result.stderr[-2000:]
  assert message in result.stderr and "Traceback" not in result.stderr
  assert not (tmp_path / "root").exists()  # nothing written


@pytest.mark.slow
def test_dry_run_prints_commands_and_the_flops_bench_measures(tmp_path):
  path = write_sweep(tmp_path, (
      "  return {'config': 'configs/dcgan.py:tiny',\n"
      "          'runs': product({'model.generator.base_width': [8, 16]})}\n"))
  result = cli("sweep", path, f"--root={tmp_path / 'root'}", "--dry_run")
  assert result.returncode == 0, result.stderr[-3000:]
  lines = result.stdout.splitlines()
  commands = [line for line in lines if line.startswith("$ ")]
  assert len(commands) == 2
  assert "--config.model.generator.base_width=16" in commands[1]
  reports = [json.loads(line) for line in lines if line.startswith("{")]
  assert [r["run"] for r in reports] == ["base_width=8", "base_width=16"]
  assert reports[0]["num_params"] < reports[1]["num_params"]
  bench = cli("bench", f"--config={TINY}", "--steps=1",
              "--config.model.generator.base_width=16")
  assert bench.returncode == 0, bench.stderr[-3000:]
  assert json.loads(bench.stdout.splitlines()[-1])["flops_per_step"] == (
      reports[1]["flops_per_step"])
  assert reports[1]["peak_bytes_per_device"] > 0
  assert not (tmp_path / "root").exists()


def _check_provenance(workdir: str, launches: int) -> list[dict]:
  """The records name the commit (with the diff, if the tree was dirty),
  the versions and the devices actually used, one per launch."""
  records = provenance.read(workdir)
  assert len(records) == launches
  head = subprocess.run(["git", "-C", REPO, "rev-parse", "HEAD"],
                        capture_output=True, text=True)
  for record in records:
    if head.returncode == 0:  # CI runs from a clone
      assert record["code"]["commit"] == head.stdout.strip()
      diff = subprocess.run(["git", "-C", REPO, "diff", "HEAD", "--", "."],
                            capture_output=True, text=True).stdout
      assert record["code"]["dirty"] == bool(diff)
      if diff:
        assert open(os.path.join(workdir, record["code"]["diff"])).read() == (
            diff)
    assert record["versions"]["jax"] == jax.__version__
    assert record["versions"]["numpy"] == np.__version__
    assert record["process_count"] == 1
  return records


def _status_rows(result) -> dict:
  rows = {}
  for line in result.stdout.splitlines()[1:-1]:
    name, state, progress, *error = line.split(maxsplit=3)
    rows[name] = (state, progress, " ".join(error))
  return rows


@pytest.mark.slow
def test_status_tells_each_state(tmp_path):
  path = write_sweep(tmp_path, (
      "  return {'config': 'configs/dcgan.py:tiny',\n"
      "          'runs': [{'train.seed': 0}, {'train.seed': 1},\n"
      "                   {'train.seed': 2, 'init_from.workdir': '/no/run',\n"
      "                    'init_from.subtree': 'generator'}]}\n"))
  root = tmp_path / "root"
  sweep = spec.load(path)
  # seed=0 trains to the end beforehand; seed=1 is held by a trainer.
  finished = sweep.workdir(str(root), sweep.runs[0])
  loop.train_and_evaluate(spec.build_config(sweep.runs[0]), finished)
  _check_provenance(finished, launches=1)
  held = sweep.workdir(str(root), sweep.runs[1])
  os.makedirs(held)
  lock = workdir_lock.WorkdirLock(held)
  try:
    launched = cli("sweep", path, f"--root={root}")
    assert launched.returncode == 1  # one run failed
    rows = _status_rows(launched)
    assert rows["seed=0"][:2] == ("finished", "20/20")
    assert rows["seed=1"][0] == "running"
    failing = sweep.runs[2].name
    assert failing == "seed=2"
    assert rows[failing][0] == "failed"
    assert "not a cnnjax workdir" in rows[failing][2]
    assert os.listdir(held) == []  # the held run was left alone
    # And by hand: a second trainer of a held workdir is refused.
    second = cli("train", f"--config={TINY}", f"--workdir={held}")
    assert second.returncode == 2
    assert "Another `cnnjax train` is running" in second.stderr
    assert os.listdir(held) == []
  finally:
    lock.release()
  shown = cli("sweep", path, f"--root={root}", "--status")
  assert shown.returncode == 0
  rows = _status_rows(shown)
  assert rows["seed=1"][:2] == ("pending", "0/20")
  assert rows[failing][0] == "failed"
  recorded = json.load(open(root / "s" / "sweep.json"))
  assert [r["name"] for r in recorded["runs"]] == list(rows)
  assert len(recorded["launches"]) == 1  # --status launches nothing


def _pids_of(workdir: str) -> list[int]:
  found = []
  for pid in filter(str.isdigit, os.listdir("/proc")):
    try:
      with open(f"/proc/{pid}/cmdline", "rb") as f:
        argv = f.read().split(b"\0")
    except OSError:
      continue
    if f"--workdir={workdir}".encode() in argv:
      found.append(int(pid))
  return found


def _wait_for_checkpoint(workdir: str, step: int, launcher,
                         timeout: float = 300) -> None:
  """Until `workdir` has the checkpoint of `step`, while `launcher` runs."""
  deadline = time.time() + timeout
  while not os.path.isdir(os.path.join(workdir, "checkpoints", str(step))):
    assert time.time() < deadline and launcher.poll() is None
    time.sleep(0.1)


@pytest.mark.slow
def test_a_killed_sweep_finishes_with_straight_runs_digests(tmp_path):
  path = write_sweep(tmp_path, (
      "  return {'config': 'configs/dcgan.py:tiny',\n"
      "          'runs': zipped(**{'optim.g_lr': [1e-4, 3e-4],\n"
      "                            'train.seed': [0, 1]})}\n"), name="k")
  root = str(tmp_path / "root")
  sweep = spec.load(path)
  command = [sys.executable, "-m", "cnnjax.main", "sweep", path,
             f"--root={root}", "--parallel=2"]
  launcher = subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT)
  first = sweep.workdir(root, sweep.runs[0])
  _wait_for_checkpoint(first, 10, launcher)
  for pid in _pids_of(first):  # kill -9 of a run, then of the launcher
    os.kill(pid, signal.SIGKILL)
  launcher.kill()
  launcher.wait()
  deadline = time.time() + 60  # the other run stops (SIGTERM) and saves
  while any(workdir_lock.is_locked(sweep.workdir(root, r))
            for r in sweep.runs):
    assert time.time() < deadline
    time.sleep(0.2)
  statuses = [status_lib.status(root, sweep, r, 20) for r in sweep.runs]
  stopped = [r for r, s in zip(sweep.runs, statuses) if s.state != "finished"]
  assert sweep.runs[0] in stopped
  again = cli("sweep", path, f"--root={root}", "--parallel=2", timeout=600)
  assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]
  assert "2 finished" in again.stdout
  # Each run that was stopped equals a straight run of its config in a
  # process with the same 4 devices.
  for run in stopped:
    straight = str(tmp_path / "straight" / run.name)
    result = cli("train", f"--config={run.config}", f"--workdir={straight}",
                 *run.config_flags(), env={
                     "XLA_FLAGS": xla_flags(4)})
    assert result.returncode == 0, result.stderr[-3000:]
    assert digests(sweep.workdir(root, run)) == digests(straight), run.name
  # W&B: one group per sweep, the name's parts as tags.
  wandb = json.load(open(os.path.join(first, "config.json")))["wandb"]
  assert (wandb["group"], wandb["tags"]) == ("k", "g_lr=0.0001")
  # The killed run has a record of each launch, with its command.
  records = _check_provenance(first, launches=2)
  assert all(f"--workdir={first}" in r["argv"] for r in records)
  assert records[0]["devices"] == {"cpu": 4}


def _train_children(workdir: str) -> list[int]:
  """Pids of `cnnjax train` processes of `workdir` (not their job)."""
  found = []
  for pid in _pids_of(workdir):
    with open(f"/proc/{pid}/cmdline", "rb") as f:
      if b"train" in f.read().split(b"\0"):
        found.append(pid)
  return found


@pytest.mark.slow
def test_submitit_jobs_requeue_a_run_that_got_sigterm(tmp_path):
  """The SLURM path through submitit's local executor: a 2-run job array;
  SIGTERM to one run's trainer (a preemption) requeues its job, which
  resumes it to the digests of a straight run."""
  pytest.importorskip("submitit")
  path = write_sweep(tmp_path, (
      "  return {'config': 'configs/dcgan.py:tiny',\n"
      "          'runs': product({'train.seed': [0, 1]},\n"
      "                          {'train.num_steps': [60]})}\n"), name="q")
  root = str(tmp_path / "root")
  sweep = spec.load(path)
  env = {**os.environ, "CNNJAX_SUBMITIT_CLUSTER": "local",
         "XLA_FLAGS": xla_flags(2)}
  launcher = subprocess.Popen(
      [sys.executable, "-m", "cnnjax.main", "sweep", path, f"--root={root}",
       "--backend=slurm", "--timeout_min=20"], cwd=REPO, env=env,
      stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
  first = sweep.workdir(root, sweep.runs[0])
  _wait_for_checkpoint(first, 10, launcher)
  for pid in _train_children(first):
    os.kill(pid, signal.SIGTERM)
  output, _ = launcher.communicate(timeout=600)
  assert launcher.returncode == 0, output[-4000:]
  assert "2 finished" in output
  log = open(status_lib.log_path(root, sweep, sweep.runs[0], ".log")).read()
  assert "Stopped on SIGTERM" in log and "Resuming from the checkpoint" in log
  straight = str(tmp_path / "straight")
  result = cli("train", f"--config={sweep.runs[0].config}",
               f"--workdir={straight}", *sweep.runs[0].config_flags(),
               env={"XLA_FLAGS": xla_flags(2)})
  assert result.returncode == 0, result.stderr[-3000:]
  assert digests(first) == digests(straight)
