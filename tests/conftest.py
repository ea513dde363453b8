"""Test session set-up: 8 fake CPU devices, and no writes outside tmp dirs.

XLA_FLAGS must be set before JAX initialises its backends, so it is set here,
at import time of the first conftest. Subprocesses started by tests inherit
the same environment, so they see the same 8 devices.
"""

import atexit
import os
import shutil
import sys
import tempfile

# XLA's LLVM optimisation level 0 for every program compiled ~40% faster
# but made compute-heavy tests (200 inversion steps) >10x slower; so only
# train steps and initialisation take it ($CNNJAX_FAST_COMPILE,
# cnnjax.utils.compile_cache.fast_options), which subprocesses inherit.
DEVICES_FLAG = "--xla_force_host_platform_device_count="


def xla_flags(devices: int) -> str:
  """XLA_FLAGS for a subprocess with `devices` fake CPU devices."""
  return f"{DEVICES_FLAG}{devices}"


os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " " +
                           xla_flags(8)).strip()
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ["CNNJAX_FAST_COMPILE"] = "1"
os.environ["WANDB_SILENT"] = "true"  # tiny configs disable W&B; one test enables it
# Datasets prepared by tests go to a throwaway dir, never ~/tensorflow_datasets.
os.environ["CNNJAX_DATA_DIR"] = tempfile.mkdtemp(prefix="cnnjax-test-data-")
atexit.register(shutil.rmtree, os.environ["CNNJAX_DATA_DIR"], True)
# Tests compile the same tiny programs many times (straight vs resumed runs,
# CLI subprocesses): a session-wide persistent cache compiles each once.
# xdist's workers inherit the controller's cache (the same tiny programs
# compile in every worker otherwise); only its creator removes it.
if not (os.environ.get("PYTEST_XDIST_WORKER") and
        os.environ.get("CNNJAX_TEST_XLA_CACHE")):
  os.environ["CNNJAX_TEST_XLA_CACHE"] = tempfile.mkdtemp(
      prefix="cnnjax-test-xla-")
  atexit.register(shutil.rmtree, os.environ["CNNJAX_TEST_XLA_CACHE"], True)
os.environ["JAX_COMPILATION_CACHE_DIR"] = os.environ["CNNJAX_TEST_XLA_CACHE"]
os.environ["JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS"] = "0"
os.environ["JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES"] = "0"

import pytest  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def load_config(name: str, arg: str = "tiny"):
  """A config file of configs/ by name, like --config=configs/NAME.py:ARG."""
  import importlib.util
  path = os.path.join(REPO, "configs", f"{name}.py")
  spec = importlib.util.spec_from_file_location(f"configs_{name}", path)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module.get_config(arg)


@pytest.fixture
def tiny_config():
  return load_config("dcgan", "tiny")


@pytest.fixture(scope="session")
def stylegan2_run(tmp_path_factory):
  """A tiny StyleGAN2 run (2 steps, one device) for the sampling and
  editing tests of a test process: one program to compile."""
  from cnnjax.train import loop
  import jax
  config = load_config("stylegan2", "tiny")
  config.train.num_steps = 2
  workdir = str(tmp_path_factory.mktemp("stylegan2"))
  loop.train_and_evaluate(config, workdir, devices=jax.devices()[:1])
  return workdir


def cli(*args: str, env: dict | None = None, timeout: int = 300, **kwargs):
  """Runs the real `cnnjax` entry point in a subprocess."""
  import subprocess
  return subprocess.run(
      [sys.executable, "-m", "cnnjax.main", *args], cwd=REPO,
      capture_output=True, text=True, timeout=timeout,
      env={**os.environ, **(env or {})}, **kwargs)


def digests(workdir: str) -> dict:
  """The step and sha256 digests `cnnjax inspect` prints: equal exactly when
  two runs are (the workdir's list of checkpoints may differ)."""
  from cnnjax import commands
  info = commands.inspect(workdir)
  return {k: v for k, v in info.items() if k == "step" or k.endswith("sha256")}


def stopped_copy(workdir: str, copy: str, step: int) -> str:
  """`copy`: the finished run `workdir` as if it had stopped after `step`
  (its later checkpoints removed). Relaunched to the same num_steps it
  must end bitwise as `workdir` did: a resume test without a second run
  to `step` (needs a checkpoint at `step`: checkpoint_every_steps)."""
  import shutil
  shutil.copytree(workdir, copy)
  checkpoints = os.path.join(copy, "checkpoints")
  for name in os.listdir(checkpoints):
    if name.isdigit() and int(name) > step:
      shutil.rmtree(os.path.join(checkpoints, name))
  assert str(step) in os.listdir(checkpoints), os.listdir(checkpoints)
  return copy


def snapshot(directory: str) -> dict:
  """{relative path: sha256 of its bytes} of every file under `directory`
  (and the directories, as None): equal exactly when nothing changed."""
  import hashlib
  found = {}
  for root, dirs, names in os.walk(directory):
    for name in dirs:
      found[os.path.relpath(os.path.join(root, name), directory)] = None
    for name in names:
      path = os.path.join(root, name)
      with open(path, "rb") as f:
        found[os.path.relpath(path, directory)] = hashlib.sha256(
            f.read()).hexdigest()
  return found
