"""The train loop, shared by every task: data, state, step, and the cadence
of logs, periodic work and checkpoints. It never names a task: the task
(`cnnjax.tasks`) supplies the state, the step and the periodic work.

Everything a run needs to be understood and resumed is in its workdir:

  config.json            the resolved config (compared on resume)
  metrics.jsonl          one JSON object per log step (and per evaluation)
  samples/step_<N>.png   GANs: a grid from a fixed latent batch
  checkpoints/<N>/       orbax: train state + data-iterator position
  checkpoints_best/      GANs: the state with the lowest FID
  wandb_run_id.txt       so a resumed run continues the same W&B run

Where a run starts from: the workdir's newest readable checkpoint, else the
subtrees `init_from` names (a warm start), else scratch; the log says which.
"""

import logging
import math
import os
import sys
import time

import jax
import jax.numpy as jnp

from cnnjax import config as config_lib
from cnnjax import data, sharding, tasks
from cnnjax import workdir as workdir_lib
from cnnjax.errors import UserError
from cnnjax.tasks.base import RunContext
from cnnjax.train import warm_start
from cnnjax.utils import checkpoint as checkpoint_lib
from cnnjax.utils import preemption, writers as writers_lib

log = logging.getLogger(__name__)

RUNS = "/runs"  # see `_averages`


class TrainingDiverged(UserError):
  """A loss became NaN or infinite; the last good checkpoint is kept."""
  exit_code = 1


def train_and_evaluate(config, workdir: str, *, allow_config_change: bool = False,
                       devices=None) -> dict:
  """Trains (or resumes) the run in `workdir` up to `config.train.num_steps`.

  Returns a summary: the final step, whether the run was interrupted, the
  line to print, and the last result of each of the task's periodic works
  by name (GANs: "samples", the grid's path, and "eval"; the classifier:
  "eval").
  """
  workdir = os.path.abspath(workdir)
  mesh = sharding.make_mesh(devices)
  task = tasks.build(config, mesh.size)
  abstract = task.abstract_state(mesh)
  # A warm start reads the other run before this one writes anything, so
  # a wrong subtree leaves the workdir as it was.
  warm = None
  if config.init_from.workdir and not checkpoint_lib.has_checkpoints(workdir):
    warm = warm_start.load(config, task, task.create_state(mesh), abstract)
  os.makedirs(workdir, exist_ok=True)
  workdir_lib.write_config(config_lib.to_dict(config), workdir,
                           allow_config_change)

  # Data first: a missing dataset should fail before anything compiles.
  source = data.load_source(config.data.name, config.data.split,
                            config.data.data_dir or None)
  log.info("Data: %s", source.description)
  batch_dims = task.batch_dims()
  iterator = iter(data.make_train_dataset(
      config.data, global_batch_size=math.prod(batch_dims),
      seed=config.train.seed, image_source=source))

  checkpointer = checkpoint_lib.Checkpointer(workdir,
                                             config.train.keep_checkpoints)
  try:
    step, state, extras = _initial_state(task, mesh, abstract, checkpointer,
                                         iterator, warm)
    log.info("Task %s: %d parameters; %d device(s) of kind %s.", task.name,
             task.count_params(state), mesh.size, jax.devices()[0].device_kind)
    is_chief = jax.process_index() == 0
    writers = writers_lib.Writers(workdir, config.wandb,
                                  config_lib.to_dict(config), is_chief)
  except BaseException:
    checkpointer.close()
    raise
  if writers.jsonl:
    writers.jsonl.truncate_after(step)
  try:
    train_step, _ = task.compile_step(mesh, abstract)
    works = task.periodic(RunContext(workdir, mesh, writers, is_chief))
    batches = _Batches(iterator, task.batch_sharding(mesh), batch_dims)
    logger = _MetricsLogger(config, writers, step, extras.get("log"))
    step, interrupted, results = _run(config, step, state, train_step,
                                      batches, works, checkpointer, logger)
  finally:
    # Also on errors: let an in-flight asynchronous save finish.
    checkpointer.close()
    writers.close()
  return {"step": step, "interrupted": interrupted, "workdir": workdir,
          "summary": task.summary(step, results, workdir), **results}


def _initial_state(task, mesh, abstract, checkpointer, iterator, warm):
  """(step, state, extras): the newest readable checkpoint, else the warm
  start (state, description), else scratch."""
  if checkpointer.latest_step() is not None:
    step, state, extras = checkpointer.restore(abstract, iterator)
    log.info("Resuming from the checkpoint of step %d in %s.", step,
             checkpointer.directory)
    return step, state, extras
  if warm is not None:
    state, loaded = warm
    log.info("Starting from a warm start: %s (no checkpoint in %s).", loaded,
             checkpointer.directory)
    return 0, state, {}
  log.info("Starting from scratch (no checkpoint in %s).",
           checkpointer.directory)
  return 0, task.create_state(mesh), {}


class _Batches:
  """The next global batch of the step: the process's rows of the data
  stream, shaped to the task's batch dims, split over the devices."""

  def __init__(self, iterator, batch_sharding, batch_dims):
    self.iterator = iterator
    self.sharding = batch_sharding
    # This process's rows of the last (example) dim; the others are whole.
    self.local_dims = (*batch_dims[:-1], -1)

  def __next__(self):
    return {key: jax.make_array_from_process_local_data(
                self.sharding,
                value.reshape(*self.local_dims, *value.shape[1:]))
            for key, value in next(self.iterator).items()}


def _run(config, step, state, train_step, batches, works, checkpointer,
         logger):
  """Steps until `train.num_steps` or a stop signal; returns (step, the
  signal or None, the last result of each periodic work)."""
  num_steps = config.train.num_steps
  first_step = step
  last_run, results = {}, {}
  interrupted = None

  def run_work(work, step, state):
    results[work.name] = work.run(step, state)
    last_run[work.name] = step

  def save(step, state):
    # The rows up to this step are written first, and the log's running
    # window goes with the state: a resumed run logs what a straight one
    # does.
    logger.flush()
    checkpointer.save(step, state, batches.iterator,
                      extras={"log": logger.window_state()})

  try:
    with preemption.PreemptionGuard() as guard:
      while step < num_steps:
        state, metrics = train_step(state, next(batches))
        step += 1
        logger.step_done(step, metrics, is_last=step == num_steps)
        for work in works:
          if step % work.every == 0:
            run_work(work, step, state)
        stop = guard.should_stop(step)
        if step % config.train.checkpoint_every_steps == 0 or stop:
          save(step, state)
        if stop:
          interrupted = guard.requested or "preemption"
          log.info("Stopping at step %d on %s; checkpoint saved.", step,
                   interrupted)
          break
      logger.flush()
      if checkpointer.latest_step() != step:
        save(step, state)
      if interrupted is None and step > first_step:
        for work in works:
          if last_run.get(work.name) != step:
            run_work(work, step, state)
  finally:
    logger.close()
  return step, interrupted, results


class _MetricsLogger:
  """Log rows of the step metrics, averaged over the steps since the last
  log step, without blocking the device: the sums stay on the device, and a
  log step's row is read only after the next step is queued. The running
  window goes into every checkpoint, so the rows of a resumed run are those
  of a straight run (but for the timings)."""

  def __init__(self, config, writers, step, window: dict | None = None):
    self.config = config
    self.writers = writers
    self.first_step = step
    self.progress = _progress_bar(config, step, config.train.num_steps)
    now = time.time()
    self.start_time = now
    self.window = (step, now)  # throughput since (step, time)
    self.sums, self.count = None, 0
    if window and window["count"]:  # the sums a checkpoint carried over
      self.count = window["count"]
      self.sums = {key: jnp.asarray(value, dtype)
                   for key, (value, dtype) in window["sums"].items()}
    self.pending = None  # (step, sums, count) of a log step not yet written

  def window_state(self) -> dict:
    """The steps since the last row, as a checkpoint keeps them: float32
    sums are exact in JSON, so a resumed run adds to the same numbers."""
    sums = jax.device_get(self.sums) if self.sums else {}
    return {"count": self.count,
            "sums": {key: [float(value), str(value.dtype)]
                     for key, value in sums.items()}}

  def step_done(self, step: int, metrics: dict, is_last: bool) -> None:
    if step == self.first_step + 1:
      # Throughput windows start after compilation.
      jax.block_until_ready(metrics)
      self.window = (step, time.time())
    self.flush()
    if self.progress:
      self.progress.update(1)
    self.sums = metrics if self.sums is None else jax.tree.map(
        jnp.add, self.sums, metrics)
    self.count += 1
    if step % self.config.train.log_every_steps == 0:
      self.pending = (step, self.sums, self.count)
      self.sums, self.count = None, 0
    elif is_last:
      # A row for the run's last steps, but the window goes on (and into
      # the checkpoint): a run extended later logs its next row over the
      # whole window, as a run that went straight there does.
      self.pending = (step, self.sums, self.count)

  def flush(self) -> None:
    if self.pending is not None:
      self._write(*self.pending)
      self.pending = None

  def close(self) -> None:
    if self.progress:
      self.progress.close()

  def _write(self, step: int, sums: dict, count: int) -> None:
    """Writes one log row; stops the run if a loss is not finite.

    Reading the metrics waits for their step to finish, so the throughput
    is measured between completed steps, not between dispatches.
    """
    values = _averages(jax.device_get(sums), count)
    window_step, window_time = self.window
    now = time.time()
    rate = (step - window_step) / max(now - window_time, 1e-9)
    row = {"step": step, **values, "steps_per_sec": rate,
           "images_per_sec": rate * self.config.train.batch_size,
           "wall_time": now - self.start_time}
    bad = [k for k, v in row.items()
           if isinstance(v, float) and not math.isfinite(v)]
    if bad:
      raise TrainingDiverged(
          f"Training diverged at step {step}: {', '.join(bad)} not finite. "
          "The last good checkpoint is kept; lower the learning rates or "
          "change the seed.")
    self.writers.write(row, "train")
    text = " ".join(f"{key}={value:.3f}" for key, value in values.items()
                    if not key.endswith("_logit"))
    text += f" {row['images_per_sec']:.0f} img/s"
    if self.progress:
      self.progress.set_postfix_str(text, refresh=False)
    else:
      log.info("step %d: %s", step, text)
    self.window = (step, now)


def _averages(sums: dict, count: int) -> dict:
  """Window means of the step metrics: over the `count` steps, except for a
  metric `m` that comes with `m/runs` (a lazy regulariser's), which is
  averaged over the updates that computed it and left out when none did."""
  values = {}
  for key, total in sums.items():
    if key.endswith(RUNS):
      continue
    runs = float(sums.get(key + RUNS, count))
    if runs > 0:
      values[key] = float(total) / runs
  return values


def _progress_bar(config, step, num_steps):
  mode = config.train.progress_bar
  if mode == "off" or (mode == "auto" and not sys.stderr.isatty()):
    return None
  if jax.process_index() != 0:
    return None
  from tqdm import tqdm
  return tqdm(total=num_steps, initial=step, unit="step", dynamic_ncols=True)
