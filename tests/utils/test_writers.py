"""metrics.jsonl and Weights & Biases (offline: no network in tests)."""

import glob
import json
import os

import pytest

from cnnjax.errors import ConfigError
from cnnjax.utils import writers
from tests.conftest import cli


def test_jsonl_truncate_after_drops_later_and_torn_rows(tmp_path):
  writer = writers.JsonlWriter(str(tmp_path))
  for step in (5, 10, 15):
    writer.write({"step": step, "loss": 1.0})
  with open(writer.path, "a") as f:
    f.write('{"step": 20, "lo')  # a line torn by kill -9
  writer.truncate_after(10)
  assert [json.loads(l)["step"] for l in open(writer.path)] == [5, 10]


def test_auto_mode_needs_credentials(tmp_path, monkeypatch):
  monkeypatch.delenv("WANDB_API_KEY", raising=False)
  monkeypatch.setenv("HOME", str(tmp_path))
  assert writers.resolve_wandb_mode("auto") == "offline"
  (tmp_path / ".netrc").write_text(
      "machine api.wandb.ai\n  login user\n  password abc\n")
  os.chmod(tmp_path / ".netrc", 0o600)
  assert writers.resolve_wandb_mode("auto") == "online"
  (tmp_path / ".netrc").unlink()
  monkeypatch.setenv("WANDB_API_KEY", "x" * 40)
  assert writers.resolve_wandb_mode("auto") == "online"
  assert writers.resolve_wandb_mode("disabled") == "disabled"


def test_online_without_credentials_is_a_clear_error(tmp_path, monkeypatch):
  monkeypatch.delenv("WANDB_API_KEY", raising=False)
  monkeypatch.setenv("HOME", str(tmp_path))
  from ml_collections import ConfigDict
  config = ConfigDict(dict(mode="online", project="p", entity="", group="",
                           tags="", name=""))
  with pytest.raises(ConfigError, match="wandb login"):
    writers.WandbWriter(str(tmp_path), config, {})


def test_resumed_run_continues_the_same_wandb_run(tmp_path):
  workdir = str(tmp_path / "run")
  env = {"HOME": str(tmp_path), "WANDB_API_KEY": ""}
  common = ["train", "--config=configs/dcgan.py:tiny", f"--workdir={workdir}",
            "--config.wandb.mode=auto", "--config.wandb.tags=a,b"]
  first = cli(*common, "--config.train.num_steps=10", env=env)
  assert first.returncode == 0, first.stderr[-3000:]
  run_id = open(os.path.join(workdir, "wandb_run_id.txt")).read().strip()
  second = cli(*common, "--config.train.num_steps=20", env=env)
  assert second.returncode == 0, second.stderr[-3000:]
  assert open(os.path.join(workdir, "wandb_run_id.txt")).read().strip() == run_id
  runs = sorted(glob.glob(os.path.join(workdir, "wandb", "offline-run-*")))
  assert len(runs) == 2 and all(r.endswith(run_id) for r in runs)
  # Each launch says where its data is and how to upload the whole run.
  pattern = os.path.join(os.path.abspath(workdir), "wandb",
                         f"offline-run-*-{run_id}")
  for launch, folder in zip((first, second), runs):
    assert f"logs to {os.path.abspath(folder)};" in launch.stderr
    assert f"wandb sync --id {run_id} --project cnnjax {pattern}" in (
        launch.stderr)
  assert sorted(glob.glob(pattern)) == runs
  for run in runs:
    assert os.path.getsize(os.path.join(run, f"run-{run_id}.wandb")) > 0
    # The grid is logged as samples/grid (W&B nests media by the key's /).
    assert glob.glob(os.path.join(run, "files", "media", "images", "samples",
                                  "grid_*.png"))
  # metrics.jsonl does not depend on W&B.
  rows = [json.loads(l) for l in open(os.path.join(workdir, "metrics.jsonl"))]
  assert [r["step"] for r in rows] == [5, 10, 15, 20]


def test_wandb_names_carry_the_row_kind_and_jsonl_stays_flat(tmp_path):
  """W&B gets train/<key> and eval/<key>; metrics.jsonl the flat keys."""
  logged = []

  class FakeRun:
    def log(self, values, step):
      logged.append((step, values))

  wandb_writer = object.__new__(writers.WandbWriter)
  wandb_writer.run = FakeRun()
  wandb_writer._wandb = type("FakeWandb", (), {"Image": staticmethod(str)})
  fan_out = object.__new__(writers.Writers)
  fan_out.jsonl = writers.JsonlWriter(str(tmp_path))
  fan_out.wandb = wandb_writer
  fan_out.write({"step": 5, "d_loss": 1.5}, "train")
  fan_out.write({"step": 10, "fid": 12.0}, "eval")
  fan_out.write_image(10, "grid", "grid.png")
  assert logged == [(5, {"train/d_loss": 1.5}), (10, {"eval/fid": 12.0}),
                    (10, {"samples/grid": "grid.png"})]
  rows = [json.loads(l) for l in open(tmp_path / "metrics.jsonl")]
  assert rows == [{"step": 5, "d_loss": 1.5}, {"step": 10, "fid": 12.0}]
  with pytest.raises(ValueError, match="kind"):
    fan_out.write({"step": 1, "x": 0.0}, "test")
