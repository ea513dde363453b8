"""The SLURM backend: one job array through submitit, a job per run.

Each job runs the run's `cnnjax train` command (with `--multihost` on more
than one node: JAX's distributed runtime reads SLURM's variables) and is
requeued when it is preempted or reaches its time limit. That is safe
because resume is exact: the requeued job runs the same command, which
resumes from the newest checkpoint.

Two ways a job gets stopped early, both ending in a requeue:
- submitit's signal (USR2, `timeout_min` minus a margin, or a preemption
  that SLURM signals so): `TrainJob.checkpoint` sends SIGTERM to the
  trainer, which saves and exits, and submitit requeues the job;
- SIGTERM to the trainer itself (a preemption that signals every process
  of the job): the trainer saves and exits 0 before num_steps, and the job
  raises submitit's own signal on itself, which requeues it the same way.

$CNNJAX_SUBMITIT_CLUSTER=local runs the same jobs with submitit's local
executor (subprocesses on this machine), which is how the tests drive it;
then the launcher waits for the jobs.
"""

import logging
import os
import signal
import subprocess
import time

from cnnjax import workdir as workdir_lib
from cnnjax.errors import UserError
from cnnjax.launch import status as status_lib
from cnnjax.launch.spec import Run, Sweep

log = logging.getLogger(__name__)

CLUSTER_ENV = "CNNJAX_SUBMITIT_CLUSTER"


def _submitit():
  try:
    import submitit
  except ImportError:
    raise UserError("--backend=slurm needs submitit: pip install "
                    "submitit.") from None
  return submitit


class TrainJob:
  """A run's `cnnjax train` as a submitit job that requeues itself."""

  def __init__(self, argv: list[str], workdir: str, num_steps: int,
               log_file: str):
    self.argv, self.workdir, self.num_steps = argv, workdir, num_steps
    self.log_file = log_file  # DIR/<sweep>/logs/<run>.log; .json beside it
    self._process = None

  def __call__(self) -> str:
    with open(self.log_file, "a") as output:
      self._process = subprocess.Popen(self.argv, stdout=output,
                                       stderr=subprocess.STDOUT)
      code = self._process.wait()
    status_lib.record(self.log_file[:-len(".log")] + ".json", self.log_file,
                      code)
    if code != 0:
      raise RuntimeError(f"cnnjax train exited with code {code}; its "
                         "output is in this job's log.")
    steps = workdir_lib.checkpoints(self.workdir)["steps"]
    if not steps or steps[-1] < self.num_steps:
      log.warning("The run stopped at step %s of %d (a signal): requeueing.",
                  steps[-1] if steps else 0, self.num_steps)
      os.kill(os.getpid(), _preemption_signal())
      time.sleep(600)  # submitit's handler requeues and exits meanwhile
    return self.workdir

  def checkpoint(self, *args, **kwargs):
    """submitit calls this on its signal: stop the trainer (it saves a
    checkpoint), then run the same command again."""
    del args, kwargs
    if self._process is not None and self._process.poll() is None:
      self._process.send_signal(signal.SIGTERM)
      self._process.wait()
    return _submitit().helpers.DelayedSubmission(
        TrainJob(self.argv, self.workdir, self.num_steps, self.log_file))

  def __getstate__(self):
    return {**self.__dict__, "_process": None}


def _preemption_signal() -> signal.Signals:
  """The signal submitit's job handler requeues on (its own default)."""
  name = os.environ.get("SUBMITIT_PREEMPT_SIGNAL", "USR2")
  return getattr(signal, "SIG" + name.removeprefix("SIG"))


def launch(sweep: Sweep, root: str, runs: list[Run], *, num_steps: dict,
           partition: str = "", gpus_per_run: int = 1,
           nodes_per_run: int = 1, timeout_min: int = 240) -> dict:
  """Submits `runs` as one job array; with the local cluster, waits for
  them. Returns {run name: job id}."""
  if not runs:
    return {}
  submitit = _submitit()
  cluster = os.environ.get(CLUSTER_ENV) or None
  folder = os.path.join(sweep.directory(root), "slurm", "%j")
  executor = submitit.AutoExecutor(folder=folder, cluster=cluster)
  parameters = dict(name=sweep.name, timeout_min=timeout_min,
                    nodes=nodes_per_run, tasks_per_node=1)
  if executor.cluster == "slurm":
    parameters.update(gpus_per_node=gpus_per_run,
                      slurm_array_parallelism=len(runs),
                      slurm_signal_delay_s=120)
    if partition:
      parameters["slurm_partition"] = partition
  executor.update_parameters(**parameters)
  jobs = {}
  with executor.batch():
    for run in runs:
      argv = sweep.train_argv(run, root)
      if nodes_per_run > 1:
        argv.append("--multihost")
      log_file = status_lib.log_path(root, sweep, run, ".log")
      os.makedirs(os.path.dirname(log_file), exist_ok=True)
      jobs[run.name] = executor.submit(TrainJob(
          argv, sweep.workdir(root, run), num_steps[run.name], log_file))
  for name, job in jobs.items():
    log.info("run %s: job %s (%s)", name, job.job_id, executor.cluster)
  if executor.cluster != "slurm":  # local jobs end with this process
    for name, job in jobs.items():
      try:
        job.result()
      except Exception as error:  # submitit re-raises the job's failure
        log.warning("run %s failed: %s", name,
                    (str(error).strip().splitlines() or [""])[-1])
  return {name: job.job_id for name, job in jobs.items()}
