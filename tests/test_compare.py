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
              versions=VERSIONS, seed=0):
  """A workdir with a config of g_lr `lr`, eval rows (step, fid) and train
  rows (step, images/s, wall_time) as given, and one provenance record."""
  workdir = os.path.join(root, name)
  config = load_config("dcgan", "tiny")
  config.optim.g_lr = lr
  config.train.seed = seed
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


def test_compare_at_a_step_and_the_mean_over_seeds(tmp_path):
  root = str(tmp_path / "sweep")
  # Two learning rates x seeds; lr 1e-4 with seeds 0, 1, 2, lr 2e-4 with one.
  fids = {0: [(10, 30.0), (20, 24.0)], 1: [(10, 34.0), (20, 20.0)],
          2: [(10, 26.0), (20, 22.0)]}
  for seed, evals in fids.items():
    _make_run(root, f"a{seed}", 1e-4, evals=evals, seed=seed,
              train=[(10, 100.0 * (seed + 1), 5.0), (20, 1000.0, 9.0)])
  _make_run(root, "b", 2e-4, evals=[(10, 40.0), (20, 10.0)],
            train=[(10, 50.0, 4.0), (20, 50.0, 8.0)])

  def table(*flags):
    result = cli("compare", root, "--format=json", *flags)
    assert result.returncode == 0, result.stderr[-2000:]
    return {r["run"]: r for r in map(json.loads, result.stdout.splitlines())}

  at10 = table("--step=10")
  assert at10["a1"]["fid"] == 34.0 and at10["a1"]["step"] == 10
  assert at10["a1"]["best_fid"] == 34.0  # step 20's 20.0 is after it
  assert at10["a1"]["images_per_sec"] == 200.0
  assert at10["a1"]["wall_time_s"] == 5.0
  folded = table("--mean_over=train.seed", "--step=10")
  assert set(folded) == {"a0,a1,a2", "b"}
  a, b = folded["a0,a1,a2"], folded["b"]
  assert a["n"] == 3 and b["n"] == 1
  assert a["fid"] == 30.0 and abs(a["fid_std"] - 4.0) < 1e-12
  assert a["images_per_sec"] == 200.0 and a["images_per_sec_std"] == 100.0
  assert b["fid"] == 40.0 and b["fid_std"] is None
  assert "train.seed" not in a and a["optim.g_lr"] == 1e-4
  final = table("--mean_over=train.seed", "--sort=fid")
  assert list(final) == ["b", "a0,a1,a2"]
  assert abs(final["a0,a1,a2"]["fid"] - 22.0) < 1e-12
  text = cli("compare", root, "--mean_over=train.seed")
  assert text.returncode == 0 and "fid_std" in text.stdout.splitlines()[0]
  for bad in ("--step=best", "--step=-1", "--mean_over=train.sead"):
    result = cli("compare", root, bad)
    assert result.returncode == 2, (bad, result.stderr[-1000:])
    assert "Traceback" not in result.stderr
