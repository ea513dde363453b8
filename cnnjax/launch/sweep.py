"""`cnnjax sweep`: check every run of a sweep, then launch the ones that are
not finished (or print their status, or dry-run them).

Launching is idempotent: finished runs are skipped, unfinished ones resume
from their checkpoints (exactly), and a run that a `cnnjax train` holds
right now (an earlier launcher's) is left alone. Nothing is written or
started until every run's config has been built and checked.
"""

import datetime
import json
import logging
import os
import shlex
import sys

from cnnjax import tasks
from cnnjax.errors import UserError
from cnnjax.launch import local, spec, status as status_lib
from cnnjax.utils import files

log = logging.getLogger(__name__)

SWEEP_FILE = "sweep.json"
BACKENDS = ("local", "slurm")


def main(sweep_spec: str, root: str, *, backend: str = "local",
         parallel: int = 1, show_status: bool = False,
         dry_run: bool = False, slurm: dict | None = None) -> int:
  """The command; returns its exit code (0: every run finished)."""
  if backend not in BACKENDS:
    raise UserError(f"--backend={backend}: use one of {', '.join(BACKENDS)}.")
  if parallel < 1:
    raise UserError(f"--parallel={parallel}: at least 1 run at a time.")
  sweep = spec.load(sweep_spec)
  shares = local.device_shares(parallel) if backend == "local" else None
  devices = _device_count(shares)
  configs = {run.name: _checked_config(run, devices) for run in sweep.runs}
  steps = {name: config.train.num_steps for name, config in configs.items()}
  if dry_run:
    return _dry_run(sweep, root, configs, devices)
  statuses = [status_lib.status(root, sweep, run, steps[run.name])
              for run in sweep.runs]
  if show_status:
    print(status_lib.table(statuses), flush=True)
    return 0
  todo = [run for run, s in zip(sweep.runs, statuses)
          if s.state in ("pending", "failed")]
  for s in statuses:
    if s.state in ("finished", "running"):
      log.info("run %s: %s%s; not started.", s.run, s.state,
               " (by another launch)" if s.state == "running" else "")
  _record(sweep, root, backend, parallel)
  if backend == "local":
    local.launch(sweep, root, todo, parallel)
  else:
    from cnnjax.launch import slurm as slurm_lib
    jobs = slurm_lib.launch(sweep, root, todo, num_steps=steps,
                            **(slurm or {}))
    if jobs and not os.environ.get(slurm_lib.CLUSTER_ENV):
      print(f"Submitted {len(jobs)} jobs ({', '.join(map(str, jobs.values()))}"
            f"); `cnnjax sweep {sweep_spec} --root {root} --status` shows "
            "their progress.", flush=True)
      return 0
  final = [status_lib.status(root, sweep, run, steps[run.name])
           for run in sweep.runs]
  print(status_lib.table(final), flush=True)
  return 0 if all(s.state in ("finished", "running") for s in final) else 1


def _device_count(shares) -> int:
  """Devices one run gets (what its batch must divide among)."""
  if not shares:
    return 1
  share = shares[0]
  if "CUDA_VISIBLE_DEVICES" in share:
    return len(share["CUDA_VISIBLE_DEVICES"].split(","))
  return int(local.CPU_DEVICES.search(share["XLA_FLAGS"]).group(1))


def _checked_config(run: spec.Run, devices: int):
  config = spec.build_config(run)
  try:
    tasks.get(config.get("task", "")).validate(config, devices)
  except UserError as error:
    raise spec.SweepError(f"run {run.name}: {error}") from None
  return config


def _record(sweep: spec.Sweep, root: str, backend: str, parallel: int):
  """DIR/<sweep>/sweep.json: the sweep's runs and every launch of it."""
  path = os.path.join(sweep.directory(root), SWEEP_FILE)
  launches = []
  if os.path.exists(path):
    with open(path) as f:
      launches = json.load(f).get("launches", [])
  launches.append({
      "time": datetime.datetime.now(datetime.timezone.utc).isoformat(),
      "argv": sys.argv, "backend": backend, "parallel": parallel})
  files.write_json_atomically(path, {**sweep.to_json(), "launches": launches},
                              indent=2)


def _dry_run(sweep, root, configs, devices: int) -> int:
  """Each run's command, and its step compiled without training."""
  import jax
  from cnnjax import bench
  if jax.device_count() < devices:
    raise UserError(f"the dry run needs {devices} devices; "
                    f"{jax.device_count()} are visible.")
  for run in sweep.runs:
    print("$ " + shlex.join(sweep.train_argv(run, root)), flush=True)
    report = bench.compile_report(configs[run.name],
                                  devices=jax.devices()[:devices])
    peak = report["peak_bytes_per_device"]
    print(f"  {report['num_params']:,} parameters, "
          f"{report['flops_per_step'] / 1e9:.3f} GFLOPs per step and device, "
          + (f"{peak / 2**20:.1f} MiB per device" if peak is not None
             else "memory unknown") + f" ({devices} device(s))", flush=True)
    print(json.dumps({"run": run.name, **report}), flush=True)
  return 0
