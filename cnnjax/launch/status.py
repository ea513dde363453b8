"""Where each run of a sweep stands, read from its workdir and the
launcher's records, so any process (a relaunch, `--status`) can tell.

  finished  its newest checkpoint is at its config's train.num_steps
  running   a `cnnjax train` holds its workdir's lock
  failed    its last launch ended with an error (the last error line)
  pending   not started, or stopped before the end (it resumes)

The launcher keeps, beside the run workdirs, DIR/<sweep>/logs/<run>.log
(the run's output) and <run>.json (its last launch: exit code, error).
"""

import dataclasses
import json
import os

from cnnjax import workdir as workdir_lib
from cnnjax.launch.spec import Run, Sweep
from cnnjax.utils import files, workdir_lock

LOGS = "logs"


@dataclasses.dataclass(frozen=True)
class RunStatus:
  run: str
  state: str  # pending, running, finished, failed
  step: int
  num_steps: int
  error: str = ""

  @property
  def progress(self) -> str:
    return f"{self.step}/{self.num_steps}"


def log_path(root: str, sweep: Sweep, run: Run, suffix: str) -> str:
  return os.path.join(sweep.directory(root), LOGS, run.name + suffix)


def record_launch(root: str, sweep: Sweep, run: Run, returncode: int) -> None:
  record(log_path(root, sweep, run, ".json"),
         log_path(root, sweep, run, ".log"), returncode)


def record(record_path: str, log: str, returncode: int) -> None:
  """Keeps how a run's last launch ended, with its last error line."""
  error = ""
  if returncode != 0:
    error = last_error(log) or f"exit code {returncode}"
  files.write_json_atomically(record_path,
                              {"returncode": returncode, "error": error})


def last_error(log: str) -> str:
  """The last line of a run's output that says what went wrong."""
  if not os.path.exists(log):
    return ""
  with open(log, errors="replace") as f:
    lines = [line.strip() for line in f if line.strip()]
  for line in reversed(lines):
    if line.startswith("cnnjax: error:") or "Error" in line.split(":")[0]:
      return line[:300]
  return lines[-1][:300] if lines else ""


def status(root: str, sweep: Sweep, run: Run, num_steps: int) -> RunStatus:
  workdir = sweep.workdir(root, run)
  running = workdir_lock.is_locked(workdir)
  step = _newest_step(workdir, running)
  if running:
    return RunStatus(run.name, "running", step, num_steps)
  if step >= num_steps:
    return RunStatus(run.name, "finished", step, num_steps)
  record = log_path(root, sweep, run, ".json")
  if os.path.exists(record):
    with open(record) as f:
      last = json.load(f)
    if last["returncode"] != 0:
      return RunStatus(run.name, "failed", step, num_steps, last["error"])
  return RunStatus(run.name, "pending", step, num_steps)


def _newest_step(workdir: str, running: bool) -> int:
  """The newest checkpoint's step, or while a run trains, the step of its
  latest metrics row (which runs ahead of the checkpoints)."""
  steps = workdir_lib.checkpoints(workdir)["steps"]
  step = steps[-1] if steps else 0
  metrics = os.path.join(workdir, "metrics.jsonl")
  if running and os.path.exists(metrics):
    with open(metrics, "rb") as f:
      f.seek(max(0, os.path.getsize(metrics) - 4096))
      tail = f.read().decode(errors="replace").strip().splitlines()
    try:
      step = max(step, int(json.loads(tail[-1])["step"]))
    except (ValueError, KeyError, IndexError, TypeError):
      pass
  return step


def table(statuses: list[RunStatus]) -> str:
  """A text table: run, state, progress, last error."""
  width = max([len("run")] + [len(s.run) for s in statuses])
  lines = [f"{'run':{width}}  {'state':8}  {'progress':>11}  error"]
  for s in statuses:
    lines.append(f"{s.run:{width}}  {s.state:8}  {s.progress:>11}  "
                 f"{s.error}".rstrip())
  counts = {state: sum(s.state == state for s in statuses)
            for state in ("finished", "running", "pending", "failed")}
  lines.append(", ".join(f"{n} {state}" for state, n in counts.items()))
  return "\n".join(lines)
