"""`cnnjax compare`: one table of runs from their workdirs, offline.

Each DIR is a workdir, a sweep folder (with sweep.json: its runs), or a
folder of workdirs. A row per run: the config fields in which the runs
differ, the final and best evaluation (GANs: fid at the last evaluation and
the lowest with its step, kid, precision, recall, inception_score;
classifiers: test_accuracy), steps, median images/s and wall time (the
launches' train time, summed). Runs whose code commit, uncommitted changes
or library versions differ from the others' are flagged in `provenance`.

`at_step` reads each run as it was at that step (a budget inside longer
runs: the evaluations, speed and wall time up to it). `mean_over` (e.g.
train.seed) folds runs that differ only in those fields into one row: the
mean of each number, its sample standard deviation in `<column>_std`, and
`n`, the runs folded.
"""

import csv
import io
import json
import math
import os
import statistics

from cnnjax import config as config_lib
from cnnjax import workdir as workdir_lib
from cnnjax.errors import UserError
from cnnjax.utils import files, provenance

FINAL = ("fid", "kid", "precision", "recall", "inception_score",
         "test_accuracy")
# Fields that name a run rather than set it.
IGNORED = ("wandb.", "data.data_dir", "init_from.workdir")
FORMATS = ("text", "csv", "json")


def find_workdirs(paths: list[str]) -> list[str]:
  found = []
  for path in paths:
    path = os.path.abspath(path)
    if os.path.exists(os.path.join(path, workdir_lib.CONFIG_FILE)):
      found.append(path)
      continue
    if not os.path.isdir(path):
      raise UserError(f"{path} is not a folder; compare takes workdirs, "
                      "sweep folders or folders of them.")
    sweep_file = os.path.join(path, "sweep.json")
    if os.path.exists(sweep_file):
      with open(sweep_file) as f:
        names = [run["name"] for run in json.load(f)["runs"]]
    else:
      names = sorted(os.listdir(path))
    inside = [os.path.join(path, n) for n in names
              if os.path.exists(os.path.join(path, n, workdir_lib.CONFIG_FILE))]
    if not inside:
      raise UserError(f"{path} holds no cnnjax workdir (a folder with "
                      "config.json).")
    found += inside
  return found


def _rows(workdir: str) -> list[dict]:
  return files.read_jsonl(os.path.join(workdir, "metrics.jsonl"))


def summarize(workdir: str, at_step: int | None = None) -> dict:
  """One run's row (before the differing config fields are added), from
  its logs up to `at_step` when given."""
  rows = _rows(workdir)
  if at_step is not None:
    rows = [r for r in rows if r["step"] <= at_step]
  evals = [r for r in rows if any(k in r for k in FINAL)]
  train = [r for r in rows if "images_per_sec" in r]
  row = {"run": os.path.basename(workdir), "workdir": workdir,
         "step": max((r["step"] for r in rows), default=0)}
  final = evals[-1] if evals else {}
  for key in FINAL:
    if key in final:
      row[key] = final[key]
  with_fid = [r for r in evals if "fid" in r]
  if with_fid:
    best = min(with_fid, key=lambda r: r["fid"])
    row["best_fid"], row["best_step"] = best["fid"], best["step"]
  if train:
    row["images_per_sec"] = statistics.median(r["images_per_sec"]
                                              for r in train)
    row["wall_time_s"] = _wall_time(train)
  return row


def _wall_time(train: list[dict]) -> float:
  """Train time over every launch: wall_time restarts at each launch."""
  total, last = 0.0, 0.0
  for r in train:
    if r["wall_time"] < last:
      total += last
    last = r["wall_time"]
  return total + last


def compare(paths: list[str], sort: str | None = None,
            fields: list[str] | None = None, at_step: int | None = None,
            mean_over: list[str] | None = None) -> tuple[list, list]:
  """(columns, rows) of the runs under `paths`, sorted by `sort`; the
  config columns are `fields`, or every field in which the runs differ."""
  if at_step is not None and (isinstance(at_step, str) or at_step < 0):
    raise UserError(f"--step={at_step}: compare takes a step number >= 0 "
                    "(the runs as they were at that step).")
  workdirs = find_workdirs(paths)
  configs = {w: config_lib.flatten(workdir_lib.read_config(w))
             for w in workdirs}
  keys = sorted({k for c in configs.values() for k in c})
  differing = [k for k in keys if not k.startswith(IGNORED) and
               len({json.dumps(c.get(k), sort_keys=True)
                    for c in configs.values()}) > 1]
  mean_over = mean_over or []
  unknown = [f for f in mean_over if f not in keys]
  if unknown:
    raise UserError(f"--mean_over: no config field {', '.join(unknown)} in "
                    "these runs.")
  # Runs fold together only when every differing field but `mean_over`
  # agrees, shown in --fields or not.
  grouping = [k for k in differing if k not in mean_over]
  if fields is not None:
    unknown = [f for f in fields if f not in keys]
    if unknown:
      raise UserError(f"--fields: no config field {', '.join(unknown)} in "
                      "these runs.")
    differing = list(fields)
  differing = [k for k in differing if k not in mean_over]
  flags = _provenance_flags(workdirs)
  rows = []
  for workdir in workdirs:
    row = summarize(workdir, at_step)
    row.update({k: configs[workdir].get(k) for k in differing})
    row["provenance"] = flags[workdir]
    row["_group"] = json.dumps([configs[workdir].get(k) for k in grouping])
    rows.append(row)
  numbers = [k for k in ("step", "fid", "best_fid", "best_step", "kid",
                         "precision", "recall", "inception_score",
                         "test_accuracy", "images_per_sec", "wall_time_s")
             if any(k in r for r in rows)]
  if mean_over:
    rows = [_mean_row(group, numbers) for group in _groups(rows)]
  metrics = [k for k in numbers
             if k not in ("step", "images_per_sec", "wall_time_s")]
  speed = [k for k in ("images_per_sec", "wall_time_s") if k in numbers]
  if mean_over:
    metrics = [c for k in metrics for c in (k, k + "_std")]
    speed = [c for k in speed for c in (k, k + "_std")]
  columns = (["run", *differing, *(["n"] if mean_over else []), "step",
              *metrics, *speed, "provenance"])
  if sort:
    if sort not in columns:
      raise UserError(f"--sort={sort}: no such column; the columns are "
                      f"{', '.join(columns)}.")
    present = [r for r in rows if r.get(sort) is not None]
    rows = sorted(present, key=lambda r: r[sort]) + [
        r for r in rows if r.get(sort) is None]
  return columns, rows


def _groups(rows: list[dict]) -> list[list[dict]]:
  groups = {}
  for row in rows:
    groups.setdefault(row["_group"], []).append(row)
  return list(groups.values())


def _mean_row(group: list[dict], numbers: list[str]) -> dict:
  """One row for runs that differ only in --mean_over: each number's mean
  and sample standard deviation over the runs that have it (None for one
  run); the config columns are the group's; provenance notes joined."""
  row = {k: v for k, v in group[0].items() if k not in numbers}
  row["run"] = ",".join(r["run"] for r in group)
  row["workdir"] = [r["workdir"] for r in group]
  row["n"] = len(group)
  row["provenance"] = "; ".join(sorted({r["provenance"] for r in group
                                        if r["provenance"]}))
  for key in numbers:
    values = [r[key] for r in group if r.get(key) is not None]
    if values:
      row[key] = statistics.fmean(values)
      row[key + "_std"] = (statistics.stdev(values) if len(values) > 1
                           else None)
  return row


def _provenance_flags(workdirs: list[str]) -> dict:
  """"" for runs like the majority; else what differs (code, versions)."""
  described = {}
  for w in workdirs:
    records = provenance.read(w)
    if not records:
      described[w] = None
      continue
    code = {(r["code"].get("commit"), r["code"].get("dirty")) for r in records}
    versions = {json.dumps(r["versions"], sort_keys=True) for r in records}
    described[w] = (code, versions)
  flags = {}
  known = [d for d in described.values() if d]
  for w, d in described.items():
    if d is None:
      flags[w] = "no record"
      continue
    notes = []
    code, versions = d
    if len(code) > 1 or any(c != code for c, _ in known):
      commits = sorted(f"{(c or '?')[:8]}{'+dirty' if dirty else ''}"
                       for c, dirty in code)
      notes.append("code " + "/".join(commits))
    elif any(dirty for _, dirty in code):
      notes.append("uncommitted changes")
    if len(versions) > 1 or any(v != versions for _, v in known):
      notes.append("library versions differ")
    flags[w] = "; ".join(notes)
  return flags


def render(columns: list, rows: list, fmt: str = "text") -> str:
  if fmt not in FORMATS:
    raise UserError(f"--format={fmt}: use one of {', '.join(FORMATS)}.")
  if fmt == "json":
    return "\n".join(json.dumps({c: r.get(c) for c in columns + ["workdir"]})
                     for r in rows)
  if fmt == "csv":
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    for r in rows:
      writer.writerow(["" if r.get(c) is None else r[c] for c in columns])
    return out.getvalue().rstrip("\n")
  cells = [[_text(r.get(c)) for c in columns] for r in rows]
  widths = [max(len(c), *(len(row[i]) for row in cells))
            for i, c in enumerate(columns)]
  lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths)).rstrip()]
  lines += ["  ".join(v.ljust(w) for v, w in zip(row, widths)).rstrip()
            for row in cells]
  return "\n".join(lines)


def _text(value) -> str:
  if value is None:
    return "-"
  if isinstance(value, float):
    if math.isnan(value):
      return "nan"
    return f"{value:.4g}" if abs(value) < 1e5 else f"{value:.0f}"
  return str(value)


def plot(paths: list[str], out: str, metric: str = "fid",
         x: str = "step") -> str:
  """A PNG of `metric` against step, or real images seen (step x batch
  size x n_critic, the budget of a GAN comparison), for every run."""
  import matplotlib
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt
  if x not in ("step", "images"):
    raise UserError(f"--x={x}: use step or images.")
  if not out.lower().endswith(".png"):
    raise UserError(f"--plot must name a .png file, not {out!r}.")
  figure, axes = plt.subplots(figsize=(7, 4.5), dpi=120)
  drawn = 0
  for workdir in find_workdirs(paths):
    rows = [r for r in _rows(workdir) if metric in r]
    if not rows:
      continue
    train = workdir_lib.read_config(workdir)["train"]
    # The real images a step consumes: a GAN's D sees n_critic batches.
    per_step = train["batch_size"] * train.get("n_critic", 1)
    xs = [r["step"] * (per_step if x == "images" else 1) for r in rows]
    axes.plot(xs, [r[metric] for r in rows], marker="o", markersize=3,
              label=os.path.basename(workdir))
    drawn += 1
  if not drawn:
    plt.close(figure)
    raise UserError(f"No run under {', '.join(paths)} logged {metric!r}.")
  axes.set_xlabel("real images seen" if x == "images" else "step")
  axes.set_ylabel(metric)
  axes.grid(alpha=0.3)
  axes.legend(fontsize=7)
  figure.tight_layout()
  os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
  figure.savefig(out)
  plt.close(figure)
  return os.path.abspath(out)
