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
  provenance.jsonl       per launch: command, code version, library
                         versions, devices (cnnjax.utils.provenance)

Where a run starts from: the workdir's newest readable checkpoint, else the
subtrees `init_from` names (a warm start), else scratch; the log says which.
"""

import logging
import math
import os

import jax

from cnnjax import config as config_lib
from cnnjax import data, sharding, tasks
from cnnjax import workdir as workdir_lib
from cnnjax.tasks.base import RunContext
from cnnjax.train import metrics_log, sentry, warm_start
from cnnjax.utils import checkpoint as checkpoint_lib
from cnnjax.utils import preemption, provenance, workdir_lock
from cnnjax.utils import writers as writers_lib

log = logging.getLogger(__name__)

TrainingDiverged = sentry.TrainingDiverged  # what a diverged run raises


def train_and_evaluate(config, workdir: str, *, allow_config_change: bool = False,
                       devices=None) -> dict:
  """Trains (or resumes) the run in `workdir` up to `config.train.num_steps`.

  Everything that can refuse to start (the config and its fit with the
  workdir's, the workdir's files, a warm start's source, the data, a
  readable checkpoint, the compilation, the feature network of evaluations)
  is checked before anything in the workdir is written.

  Returns a summary: the final step, whether the run was interrupted, the
  line to print, and the last result of each of the task's periodic works
  by name (GANs: "samples", the grid's path, and "eval"; the classifier:
  "eval").
  """
  workdir = os.path.abspath(workdir)
  is_chief = jax.process_index() == 0
  # An existing workdir is locked before it is read; a new one once it
  # exists. Only the chief locks: every process of a run shares the folder.
  lock = (workdir_lock.WorkdirLock(workdir)
          if is_chief and os.path.isdir(workdir) else None)
  try:
    return _train(config, workdir, allow_config_change, devices, lock)
  finally:
    if lock:
      lock.release()


def _train(config, workdir, allow_config_change, devices, lock) -> dict:
  mesh = sharding.make_mesh(devices)
  task = tasks.build(config, mesh.size)
  abstract = task.abstract_state(mesh)
  values = config_lib.to_dict(config)
  changes = workdir_lib.config_changes(values, workdir, allow_config_change)
  is_chief = jax.process_index() == 0
  writers = writers_lib.Writers(workdir, config.wandb, values, is_chief)
  if writers.jsonl:
    writers.jsonl.rows()  # a malformed metrics.jsonl stops here
  rollbacks = sentry.RollbackLog(workdir)
  warm = None
  if config.init_from.workdir and not checkpoint_lib.has_checkpoints(workdir):
    warm = warm_start.load(config, task, task.create_state(mesh), abstract)

  source = data.load_source(config.data.name, config.data.split,
                            config.data.data_dir or None)
  log.info("Data: %s", source.description)
  data.check_labels(source, config.get("model", {}).get("num_classes", 0))
  streams = {}
  for name, section in task.data_streams().items():
    streams[name] = (section, data.load_source(section.name, section.split,
                                               section.data_dir or None))
    log.info("Data (%s): %s", name, streams[name][1].description)
  batch_dims = task.batch_dims()
  iterator = iter(data.make_train_dataset(
      config.data, global_batch_size=math.prod(batch_dims),
      seed=config.train.seed, image_source=source, streams=streams))

  checkpointer = checkpoint_lib.Checkpointer(
      workdir, config.train.keep_checkpoints, create=False)
  try:
    step, state, extras = _initial_state(task, mesh, abstract, checkpointer,
                                         iterator, warm)
    jax.block_until_ready(state)  # a state too large fails here, not later
    if rollbacks.skipped_at(step):
      log.info("Skipping the %d batches this run skipped after rolling back "
               "to step %d.", rollbacks.skipped_at(step), step)
      sentry.skip(iterator, rollbacks.skipped_at(step))
    log.info("Task %s: %d parameters; %d device(s) of kind %s.", task.name,
             task.count_params(state), mesh.size, jax.devices()[0].device_kind)
    batches = _Batches(iterator, task.batch_sharding(mesh), batch_dims)
    train_step = _compiled_step(task, mesh, abstract, batches)
    works = task.periodic(RunContext(workdir, mesh, writers, is_chief))

    # It can start: now the workdir changes.
    os.makedirs(checkpointer.directory, exist_ok=True)
    if is_chief and lock is None:
      lock = workdir_lock.WorkdirLock(workdir)
    workdir_lib.write_config(values, workdir, changes)
    if is_chief:
      provenance.append(workdir, mesh.devices.flat)
    writers.start()
    if writers.jsonl:
      writers.jsonl.truncate_after(step)
    logger = metrics_log.MetricsLogger(config, writers, step,
                                       extras.get("log"))
    recover = _recoverer(config, abstract, checkpointer, batches, logger,
                         rollbacks, writers)
    step, interrupted, results = _run(config, step, state, train_step,
                                      batches, works, checkpointer, logger,
                                      recover)
  finally:
    # Also on errors: let an in-flight asynchronous save finish.
    checkpointer.close()
    writers.close()
    if lock is not None:
      lock.release()
  return {"step": step, "interrupted": interrupted, "workdir": workdir,
          "summary": task.summary(step, results, workdir), **results}


def _compiled_step(task, mesh, abstract, batches):
  """The task's step, compiled now (an out-of-memory model fails before the
  workdir is touched) for the batches' shapes."""
  jitted, _ = task.compile_step(mesh, abstract)
  abstract_batch = {key: jax.ShapeDtypeStruct(shape, dtype,
                                              sharding=batches.sharding)
                    for key, (shape, dtype) in task.batch_spec().items()}
  return jitted.lower(abstract, abstract_batch).compile()


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
         logger, recover):
  """Steps until `train.num_steps` or a stop signal; returns (step, the
  signal or None, the last result of each periodic work). A non-finite
  step is handed to `recover` (stop, or roll back and go on)."""
  num_steps = config.train.num_steps
  first_step = step
  last_run, results = {}, {}
  interrupted = None

  def run_work(work, step, state):
    results[work.name] = work.run(step, state)
    last_run[work.name] = step

  def save(step, state):
    # The rows up to this step are written first, and the log's running
    # window goes with the state (a resumed run logs what a straight one
    # does); a window with a non-finite step raises Diverged instead.
    logger.flush()
    extras = {"log": logger.window_state(step)}
    checkpointer.save(step, state, batches.iterator, extras=extras)

  try:
    with preemption.PreemptionGuard() as guard:
      while True:
        try:
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
          break
        except metrics_log.Diverged as diverged:
          step, state = recover(diverged)
      if interrupted is None and step > first_step:
        for work in works:
          if last_run.get(work.name) != step:
            run_work(work, step, state)
  finally:
    logger.close()
  return step, interrupted, results


def _recoverer(config, abstract, checkpointer, batches, logger, rollbacks,
               writers):
  """What to do with a Diverged: `train.on_nonfinite` (see sentry.py)."""
  def recover(diverged: metrics_log.Diverged):
    good = checkpointer.latest_step()
    message = (f"Training diverged at step {diverged.step} "
               f"({diverged.what}). ")
    if config.train.on_nonfinite == "stop" or good is None:
      raise sentry.TrainingDiverged(
          message + ("The last good checkpoint, of step "
                     f"{good}, is kept (nothing non-finite is ever saved); "
                     "lower the learning rates, change the seed, or train "
                     "with --config.train.on_nonfinite=rollback."
                     if good is not None else
                     "No checkpoint was saved before it; lower the learning "
                     "rates or change the seed."))
    if len(rollbacks.records) >= config.train.max_rollbacks:
      raise sentry.TrainingDiverged(
          message + f"It rolled back {len(rollbacks.records)} times already "
          f"(train.max_rollbacks); the last good checkpoint, of step {good}, "
          "is kept. Lower the learning rates or change the seed.")
    checkpointer.wait()
    step, state, extras = checkpointer.restore(abstract, batches.iterator)
    rollbacks.add(step, diverged.step, diverged.step - step)
    sentry.skip(batches.iterator, rollbacks.skipped_at(step))
    logger.restart(step, extras.get("log"))
    if writers.jsonl:
      writers.jsonl.truncate_after(step)
    log.warning("%sRolled back to the checkpoint of step %d and skipped the "
                "%d batches of the steps after it (rollback %d of at most "
                "%d).", message, step, diverged.step - step,
                len(rollbacks.records), config.train.max_rollbacks)
    return step, state
  return recover
