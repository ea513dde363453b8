"""`cnnjax compare` on workdirs whose numbers are known (the provenance
records themselves are tested in tests/launch/test_sweep.py)."""

import csv
import io
import json
import os
from PIL import Image

from cnnjax import config as config_lib
from cnnjax import workdir as workdir_lib
from cnnjax.utils import provenance
from tests.conftest import cli, load_config

VERSIONS = {"python": "3.11.7", "jax": "0.10.2"}


def _make_run(root, name, lr, evals, train, commit="a" * 40, dirty=False,
              versions=VERSIONS):
  """A workdir with a config of g_lr `lr`, eval rows (step, fid) and train
  rows (step, images/s, wall_time) as given, and one provenance record."""
  workdir = os.path.join(root, name)
  config = load_config("dcgan", "tiny")
  config.optim.g_lr = lr
  config.wandb.name = name  # differs, but names the run: not compared
  workdir_lib.write_config(config_lib.to_dict(config), workdir, changes=[])
  rows = [{"step": s, "images_per_sec": ips, "wall_time": wall}
          for s, ips, wall in train]
  rows += [{"step": s, "fid": fid, "kid": fid / 100, "precision": 0.5,
            "recall": 0.25, "inception_score": 2.0} for s, fid in evals]
  rows.sort(key=lambda r: r["step"])
  with open(os.path.join(workdir, "metrics.jsonl"), "w") as f:
    f.writelines(json.dumps(r) + "\n" for r in rows)
  with open(os.path.join(workdir, provenance.FILE), "w") as f:
    f.write(json.dumps({"code": {"commit": commit, "dirty": dirty},
                        "versions": versions}) + "\n")
  return workdir


def test_compare_gives_the_expected_table(tmp_path):
  root = str(tmp_path / "sweep")
  _make_run(root, "a", 1e-4, evals=[(10, 30.0), (20, 25.0)],
            train=[(10, 100.0, 5.0), (20, 300.0, 10.0)])
  # Resumed once (wall_time restarts): 12 s + 7 s of training.
  _make_run(root, "b", 2e-4, evals=[(10, 20.0), (20, 28.0)],
            train=[(5, 200.0, 6.0), (10, 200.0, 12.0), (15, 400.0, 3.0),
                   (20, 100.0, 7.0)])
  _make_run(root, "c", 3e-4, evals=[(10, 26.0)], train=[(10, 50.0, 4.0)],
            commit="b" * 40, versions={**VERSIONS, "jax": "0.9.0"})
  result = cli("compare", root, "--sort=fid", "--format=json")
  assert result.returncode == 0, result.stderr[-2000:]
  rows = [json.loads(line) for line in result.stdout.splitlines()]
  assert [r["run"] for r in rows] == ["a", "c", "b"]  # by final fid
  a, c, b = rows
  assert set(a) >= {"optim.g_lr", "fid", "best_fid", "best_step", "kid"}
  assert "wandb.name" not in a
  assert (a["optim.g_lr"], a["fid"], a["best_fid"], a["best_step"]) == (
      1e-4, 25.0, 25.0, 20)
  assert (b["fid"], b["best_fid"], b["best_step"]) == (28.0, 20.0, 10)
  assert (a["images_per_sec"], b["images_per_sec"]) == (200.0, 200.0)
  assert (a["wall_time_s"], b["wall_time_s"]) == (10.0, 19.0)
  assert a["step"] == b["step"] == 20 and c["step"] == 10
  assert c["provenance"] == "code bbbbbbbb; library versions differ"
  assert "code aaaaaaaa" in a["provenance"]
  table = cli("compare", os.path.join(root, "a"), os.path.join(root, "b"),
              "--sort=best_fid")
  lines = table.stdout.splitlines()
  assert lines[0].split()[:3] == ["run", "optim.g_lr", "step"]
  assert [line.split()[0] for line in lines[1:]] == ["b", "a"]
  chosen = cli("compare", root, "--fields=train.seed,optim.g_lr")
  assert chosen.stdout.splitlines()[0].split()[:4] == [
      "run", "train.seed", "optim.g_lr", "step"]
  assert cli("compare", root, "--fields=nope").returncode == 2
  as_csv = list(csv.reader(io.StringIO(cli("compare", root,
                                           "--format=csv").stdout)))
  assert as_csv[0][0] == "run" and len(as_csv) == 4
  out = tmp_path / "fid.png"
  plotted = cli("compare", root, f"--plot={out}", "--metric=fid",
                "--against=images")
  assert plotted.returncode == 0 and Image.open(out).size[0] > 300
  bad = cli("compare", root, "--sort=fdi")
  assert bad.returncode == 2 and "no such column" in bad.stderr
  assert cli("compare", str(tmp_path / "nothing")).returncode == 2
