"""The real `cnnjax` entry point end to end, and its answers to bad input.

Each bad input must give one clear message and exit code 2: no traceback,
and no checkpoint overwritten or deleted.
"""

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from PIL import Image

from tests.conftest import REPO, cli

TINY = "configs/dcgan.py:tiny"


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
  """One tiny run through the CLI, shared by the tests that read it."""
  workdir = str(tmp_path_factory.mktemp("cli") / "run")
  result = cli("train", f"--config={TINY}", f"--workdir={workdir}")
  assert result.returncode == 0, result.stderr[-3000:]
  return workdir, result


def _assert_clean_error(result, *fragments):
  assert result.returncode == 2, (result.returncode, result.stderr[-3000:])
  assert "Traceback" not in result.stderr
  assert "cnnjax: error:" in result.stderr
  for fragment in fragments:
    assert fragment in result.stderr, result.stderr[-3000:]


def test_train_writes_the_workdir_contract(trained):
  workdir, result = trained
  assert "Trained to step 20" in result.stdout
  assert "Starting from scratch" in result.stderr
  assert "Data: digits" in result.stderr
  config = json.load(open(os.path.join(workdir, "config.json")))
  assert config["train"]["num_steps"] == 20
  rows = [json.loads(l) for l in open(os.path.join(workdir, "metrics.jsonl"))]
  assert [r["step"] for r in rows] == [5, 10, 15, 20]
  for row in rows:
    assert {"d_loss", "g_loss", "steps_per_sec", "images_per_sec",
            "wall_time"} <= set(row)
    assert np.isfinite(row["d_loss"]) and row["images_per_sec"] > 0
  grid = Image.open(os.path.join(workdir, "samples", "step_20.png"))
  assert grid.size == (8 * 34 + 2, 8 * 34 + 2)
  assert sorted(os.listdir(os.path.join(workdir, "checkpoints"))) == ["10", "20"]


def test_sample_and_inspect(trained, tmp_path):
  workdir, _ = trained
  out = str(tmp_path / "grid.png")
  result = cli("sample", f"--workdir={workdir}", "--num=9", f"--out={out}",
               "--seed=3", "--step=10")
  assert result.returncode == 0, result.stderr[-3000:]
  assert "step 10" in result.stdout
  pixels = np.asarray(Image.open(out))
  assert pixels.shape == (3 * 34 + 2, 3 * 34 + 2) and pixels.std() > 0
  # Refuses to overwrite without --overwrite.
  _assert_clean_error(cli("sample", f"--workdir={workdir}", f"--out={out}"),
                      "--overwrite")
  result = cli("inspect", f"--workdir={workdir}")
  assert result.returncode == 0, result.stderr[-3000:]
  info = json.loads(result.stdout.strip().splitlines()[-1])
  assert info["step"] == 20 and info["num_params"] > 0
  assert info["task"] == "gan" and info["checkpoints"] == [10, 20]
  assert info["best_step"] is None
  for key in ("generator_sha256", "params_sha256", "state_sha256"):
    assert len(info[key]) == 64
  assert info["generator_sha256"] != info["state_sha256"]


@pytest.mark.parametrize("args,fragments", [
    (["train", f"--config={TINY}", "--config.data.name=imagenet_9000"],
     ["imagenet_9000"]),
    (["train", f"--config={TINY}", "--config.data.name=tfds:not_prepared_here"],
     ["not_prepared_here"]),
    (["train", f"--config={TINY}", "--config.train.nmu_steps=3"],
     ["no such config field 'nmu_steps'", "num_steps"]),
    (["train", f"--config={TINY}", "--config.model.generator.base_widht=3"],
     ["'base_widht'", '"base_width"']),
    (["train", f"--config={TINY}", "--config.model.discriminator.name=resnet"],
     ["bn_momentum is not a field", "network_config"]),
    (["train", f"--config={TINY}", "--config.train.num_steps=lots"],
     ["num_steps"]),
    (["train", f"--config={TINY}", "--config.data.resolution=30"],
     ["28, 32, 64, 128 or 256"]),
    (["train", "--config=configs/dcgan.py:cifar"], ["fashion_mnist, digits"]),
    (["train", "--config=configs/nope.py"], ["nope.py"]),
    (["train"], ["--config is required"]),
    (["fly"], ["expected one command"]),
])
def test_bad_input_exits_2(tmp_path, args, fragments):
  result = cli(*args, f"--workdir={tmp_path / 'run'}")
  _assert_clean_error(result, *fragments)


def test_workdir_of_another_config_is_refused(trained):
  workdir, _ = trained
  before = sorted(os.listdir(os.path.join(workdir, "checkpoints")))
  result = cli("train", f"--config={TINY}", f"--workdir={workdir}",
               "--config.optim.g_lr=0.01", "--config.train.seed=4")
  _assert_clean_error(result, "optim.g_lr", "train.seed",
                      "--allow_config_change")
  assert sorted(os.listdir(os.path.join(workdir, "checkpoints"))) == before
  config = json.load(open(os.path.join(workdir, "config.json")))
  assert config["optim"]["g_lr"] == 2e-4


def test_sample_and_inspect_need_a_workdir(tmp_path):
  _assert_clean_error(cli("inspect", f"--workdir={tmp_path}"),
                      "not a cnnjax workdir")
  _assert_clean_error(cli("sample", f"--workdir={tmp_path}",
                          f"--out={tmp_path / 'x.png'}"),
                      "not a cnnjax workdir")
  _assert_clean_error(cli("sample", f"--workdir={tmp_path}",
                          f"--out={tmp_path / 'x.png'}", "--truncation=1,x"),
                      "--truncation='1,x': give numbers")


def test_bench_prints_one_json_line(tmp_path):
  # A fresh cache: the first compile is a miss, the same program's next
  # compile (conftest stores every program) a hit; without a cache folder,
  # "off" (tests/utils/test_compile_cache.py).
  # The MLP GAN: the cheapest train step to compile twice from scratch.
  env = {"JAX_COMPILATION_CACHE_DIR": str(tmp_path / "xla")}
  outcomes = []
  for cache in (env, env):
    result = cli("bench", "--config=configs/mlp_gan.py:tiny", "--steps=2",
                 env=cache)
    assert result.returncode == 0, result.stderr[-3000:]
    info = json.loads(result.stdout.strip().splitlines()[-1])
    outcomes.append(info["compile_cache"])
  assert outcomes == ["miss", "hit"]
  assert info["device_count"] == 8 and info["batch_size"] == 16
  for key in ("images_per_sec", "step_ms", "compile_s", "trace_s",
              "flops_per_step", "gflops_per_sec", "matmul_gflops_per_sec"):
    assert info[key] > 0, key
  assert info["share_of_matmul"] == pytest.approx(
      info["gflops_per_sec"] / info["matmul_gflops_per_sec"])
  assert info["trace_s"] < info["compile_s"]
  result = cli("bench", f"--config={TINY}", "--pipeline")
  assert result.returncode == 0, result.stderr[-3000:]
  assert json.loads(result.stdout.strip().splitlines()[-1])["images_per_sec"] > 0


def test_a_run_that_failed_to_start_does_not_block_its_workdir(tmp_path):
  workdir = str(tmp_path / "run")
  _assert_clean_error(cli("train", f"--config={TINY}", f"--workdir={workdir}",
                          "--config.data.name=digitz"), "digitz")
  result = cli("train", f"--config={TINY}", f"--workdir={workdir}",
               "--config.train.num_steps=2")
  assert result.returncode == 0, result.stderr[-3000:]


def test_a_workdir_that_is_a_file_exits_2(tmp_path):
  path = tmp_path / "not_a_dir"
  path.write_text("a user's file")
  _assert_clean_error(cli("train", f"--config={TINY}", f"--workdir={path}"),
                      str(path))
  assert path.read_text() == "a user's file"


def test_help_lists_every_command_and_its_flags():
  from cnnjax import cli as cli_table
  from cnnjax import main  # noqa: F401  (defines the flags)
  from absl import flags
  result = cli("--help")
  assert result.returncode == 0 and "Traceback" not in result.stderr
  for command in cli_table.COMMANDS:
    assert f"  {command} " in result.stdout
  for command, (_, names) in cli_table.COMMANDS.items():
    for form in ([command, "--help"], [command, "-h"], ["help", command]):
      shown = cli(*form)
      assert shown.returncode == 0, (form, shown.stderr[-2000:])
      assert shown.stdout.startswith(f"usage: cnnjax {command}")
      for name in names:
        assert flags.FLAGS[name].help in shown.stdout  # defined, described
        assert f"--{name}" in shown.stdout


def test_config_prints_the_resolved_fields():
  result = cli("config", "--config=configs/sngan.py:tiny", "--json",
               "--config.model.generator.base_width=4")
  assert result.returncode == 0, result.stderr[-2000:]
  values = json.loads(result.stdout)
  assert values["model"]["generator"] == {"name": "resnet", "latent_dim": 16,
                                          "base_width": 4, "bn_momentum": 0.9}
  assert values["train"]["n_critic"] == 2 and values["task"] == "gan"
  text = cli("config", "--config=configs/classifier.py:tiny")
  assert text.returncode == 0 and "  base_width: 8\n" in text.stdout
  _assert_clean_error(cli("config", "--config=configs/dcgan.py:tiny",
                          "--config.train.log_every_steps=0"),
                      "train.log_every_steps must be positive")


@pytest.mark.parametrize("args,line", [
    (["--config.train.num_steps=lots"],
     "cnnjax: error: --config.train.num_steps takes an integer, not 'lots'."),
    (["--config.optim.g_lr=fast"],
     "cnnjax: error: --config.optim.g_lr takes a number, not 'fast'."),
    (["--train.num_steps=3"],
     "cnnjax: error: unknown flag --train.num_steps; config fields take the "
     "--config. prefix: --config.train.num_steps=..."),
])
def test_flag_errors_are_one_line(tmp_path, args, line):
  result = cli("train", f"--config={TINY}", f"--workdir={tmp_path}", *args)
  assert result.returncode == 2
  assert result.stderr.strip() == line


def test_a_run_that_cannot_start_writes_nothing(tmp_path):
  """The feature network of evaluation during training is loaded before the
  workdir is made: without its classifier, exit 2 and no directory."""
  workdir = tmp_path / "run"
  _assert_clean_error(cli("train", f"--config={TINY}", f"--workdir={workdir}",
                          "--config.eval.every_steps=10",
                          f"--config.eval.extractor=classifier:{tmp_path}/no"),
                      "configs/classifier.py")
  assert not workdir.exists()


@pytest.mark.parametrize("sig,code,name", [(signal.SIGTERM, 143, "SIGTERM"),
                                           (signal.SIGINT, 130, "SIGINT")])
def test_a_signal_during_start_up_is_one_message(tmp_path, sig, code, name):
  """Before the train loop's guard is in place (imports, data, compile), a
  signal ends the command with one line and its conventional exit code,
  and the new workdir is not created."""
  workdir = tmp_path / "run"
  process = subprocess.Popen(
      [sys.executable, "-m", "cnnjax.main", "train", f"--config={TINY}",
       f"--workdir={workdir}"], cwd=REPO, stdout=subprocess.PIPE,
      stderr=subprocess.PIPE, text=True)
  time.sleep(1.0)  # past the flag parsing, within the imports of JAX
  process.send_signal(sig)
  _, stderr = process.communicate(timeout=120)
  assert process.returncode == code, stderr[-2000:]
  assert f"stopped by {name} while starting up" in stderr
  assert "Traceback" not in stderr
  assert not workdir.exists()


def test_a_model_too_large_for_memory_is_one_message(tmp_path):
  """A state that cannot be allocated (a 1e11-wide latent: 200 TB) fails
  before the workdir is made, naming the fields that set the size."""
  workdir = tmp_path / "run"
  _assert_clean_error(cli("train", f"--config={TINY}", f"--workdir={workdir}",
                          "--config.model.generator.latent_dim=100000000000"),
                      "out of memory", "train.batch_size")
  assert not workdir.exists()


def test_more_bad_input_is_one_message(trained, tmp_path):
  raising = tmp_path / "raising.py"
  raising.write_text("def get_config(arg=None):\n"
                     "  raise ValueError(f'no variant {arg!r}')\n")
  _assert_clean_error(cli("train", f"--config={raising}:big",
                          f"--workdir={tmp_path / 'run'}"),
                      "the config file raised ValueError: no variant 'big'",
                      f'File "{raising}", line 2')
  _assert_clean_error(cli("bench", f"--config={TINY}", "--steps=0"),
                      "--steps=0")
  import shutil
  workdir, _ = trained
  edited = str(tmp_path / "edited")
  shutil.copytree(workdir, edited)
  path = os.path.join(edited, "config.json")
  values = json.load(open(path))
  values["train"]["num_steps"] = "many"
  json.dump(values, open(path, "w"))
  _assert_clean_error(cli("inspect", f"--workdir={edited}"),
                      "train.num_steps is 'many' (a str) where an int is "
                      "expected")


def test_output_into_a_closed_pipe_is_no_traceback():
  """`cnnjax sweep --help | head -1`: the reader has left before cnnjax
  writes; it ends quietly."""
  read_end, write_end = os.pipe()
  os.close(read_end)
  try:
    result = subprocess.run([sys.executable, "-m", "cnnjax.main", "sweep",
                             "--help"], cwd=REPO, stdout=write_end,
                            stderr=subprocess.PIPE, text=True, timeout=120)
  finally:
    os.close(write_end)
  assert result.returncode == 0 and "Traceback" not in result.stderr, (
      result.stderr[-2000:])
