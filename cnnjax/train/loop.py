"""The train loop: data, state, step, and the cadence of logs, samples and
checkpoints. Everything a run needs to be understood and resumed is in its
workdir:

  config.json            the resolved config (compared on resume)
  metrics.jsonl          one JSON object per log step
  samples/step_<N>.png   a grid from a fixed latent batch
  checkpoints/<N>/       orbax: train state + data-iterator position
  checkpoints_best/      the state with the lowest FID (eval.every_steps > 0)
  wandb_run_id.txt       so a resumed run continues the same W&B run
"""

import logging
import math
import os
import sys
import time

import jax
import jax.numpy as jnp

from cnnjax import config as config_lib
from cnnjax import data
from cnnjax.errors import UserError
from cnnjax.train import run as run_lib
from cnnjax.train import state as state_lib
from cnnjax.train import step as step_lib
from cnnjax.train import tasks
from cnnjax.utils import checkpoint as checkpoint_lib
from cnnjax.utils import preemption, writers as writers_lib

log = logging.getLogger(__name__)


class TrainingDiverged(UserError):
  """A loss became NaN or infinite; the last good checkpoint is kept."""
  exit_code = 1


def train_and_evaluate(config, workdir: str, *, allow_config_change: bool = False,
                       devices=None) -> dict:
  """Trains (or resumes) the run in `workdir` up to `config.train.num_steps`.

  Returns a summary: the final step, whether the run was interrupted, and
  the last periodic result (GANs: the sample grid's path in "samples"; the
  classifier: its held-out evaluation in "eval").
  """
  workdir = os.path.abspath(workdir)
  mesh = state_lib.make_mesh(devices)
  config_lib.validate(config, mesh.size)
  os.makedirs(workdir, exist_ok=True)
  run_lib.write_config(config, workdir, allow_config_change)

  # Data first: a missing dataset should fail before anything compiles.
  source = data.load_source(config.data.name, config.data.split,
                            config.data.data_dir or None)
  log.info("Data: %s", source.description)
  task = tasks.get(config)
  # A GAN step consumes n_critic real batches, one per D update.
  n_critic = task.steps_per_batch(config)
  dataset = data.make_train_dataset(
      config.data, global_batch_size=config.train.batch_size * n_critic,
      seed=config.train.seed, image_source=source)
  iterator = iter(dataset)

  modules = task.make_modules(config)
  abstract = task.abstract_state(config, modules, mesh)
  checkpointer = checkpoint_lib.Checkpointer(workdir,
                                             config.train.keep_checkpoints)
  if checkpointer.latest_step() is not None:
    step, state = checkpointer.restore(abstract, iterator)
    log.info("Resuming from the checkpoint of step %d in %s.", step,
             checkpointer.directory)
  else:
    step, state = 0, task.init_state(config, modules, mesh)
    log.info("Starting from scratch (no checkpoint in %s).",
             checkpointer.directory)
  log.info("Model %s: %d parameters; %d device(s) of kind %s.",
           config.model.name, task.count_params(state), mesh.size,
           jax.devices()[0].device_kind)

  is_chief = jax.process_index() == 0
  writers = writers_lib.Writers(workdir, config.wandb,
                                config_lib.to_dict(config), is_chief)
  if writers.jsonl:
    writers.jsonl.truncate_after(step)
  train_step, _ = task.compile_step(config, modules, mesh, abstract)
  periodic = task.make_periodic(config, modules, workdir, writers, is_chief)
  every = task.every_steps(config)
  # Sample-quality metrics (GANs with eval.every_steps > 0); built before the
  # first step so that a missing classifier fails fast.
  evaluate = task.make_evaluator(config, modules, mesh, workdir, writers,
                                 is_chief)
  eval_every = task.eval_every_steps(config) if evaluate else 0
  last_eval = None
  batch_sharding = step_lib.batch_sharding(mesh)

  num_steps = config.train.num_steps
  progress = _progress_bar(config, step, num_steps)
  start_time = time.time()
  first_step = step
  window = (step, start_time, start_time)  # (step, time, run start)
  pending = None  # metrics of a log step, read after the next step is queued
  window_sums, window_count = None, 0
  interrupted = None
  last_periodic = None  # (step, what the task's periodic work returned)
  try:
    with preemption.PreemptionGuard() as guard:
      while step < num_steps:
        batch = {k: jax.make_array_from_process_local_data(
                     batch_sharding, v.reshape(n_critic, -1, *v.shape[1:]))
                 for k, v in next(iterator).items()}
        state, metrics = train_step(state, batch)
        step += 1
        if step == first_step + 1:
          # Throughput windows start after compilation.
          jax.block_until_ready(metrics)
          window = (step, time.time(), start_time)
        if pending is not None:
          window = _report(writers, progress, *pending, window, config)
          pending = None
        if progress:
          progress.update(1)
        # Summed on the device: logging the window's mean never blocks.
        window_sums = metrics if window_sums is None else jax.tree.map(
            jnp.add, window_sums, metrics)
        window_count += 1
        if step % config.train.log_every_steps == 0 or step == num_steps:
          pending = (step, window_sums, window_count)
          window_sums, window_count = None, 0
        if step % every == 0:
          last_periodic = (step, periodic(step, state))
        if eval_every and step % eval_every == 0:
          last_eval = (step, evaluate(step, state))
        stop = guard.should_stop(step)
        if step % config.train.checkpoint_every_steps == 0 or stop:
          checkpointer.save(step, state, iterator)
        if stop:
          interrupted = guard.requested or "preemption"
          log.info("Stopping at step %d on %s; checkpoint saved.", step,
                   interrupted)
          break
      if pending is not None:
        _report(writers, progress, *pending, window, config)
      if checkpointer.latest_step() != step:
        checkpointer.save(step, state, iterator)
      if interrupted is None and (last_periodic is None or
                                  last_periodic[0] != step):
        last_periodic = (step, periodic(step, state))
      if (evaluate and interrupted is None and step > first_step and
          (last_eval is None or last_eval[0] != step)):
        last_eval = (step, evaluate(step, state))
  finally:
    # Also on errors: let an in-flight asynchronous save finish.
    checkpointer.close()
    if progress:
      progress.close()
    writers.close()
  result = last_periodic[1] if last_periodic else None
  return {"step": step, "interrupted": interrupted, "workdir": workdir,
          # GANs: the path of the last sample grid; classifier: its eval row.
          "samples": result if task.name == "gan" else None,
          "eval": result if task.name != "gan" else None,
          "metrics": last_eval[1] if last_eval else None}


def _report(writers, progress, step, sums, count, window, config):
  """Writes one log row (metrics averaged over the steps since the last
  row); stops the run if a loss is not finite.

  Reading the metrics waits for their step to finish, so the throughput is
  measured between completed steps, not between dispatches. Returns the
  next throughput window.
  """
  values = {k: float(v) / count for k, v in jax.device_get(sums).items()}
  window_step, window_time, start_time = window
  now = time.time()
  rate = (step - window_step) / max(now - window_time, 1e-9)
  row = {"step": step, **values, "steps_per_sec": rate,
         "images_per_sec": rate * config.train.batch_size,
         "wall_time": now - start_time}
  bad = [k for k, v in row.items() if isinstance(v, float) and not math.isfinite(v)]
  if bad:
    raise TrainingDiverged(
        f"Training diverged at step {step}: {', '.join(bad)} not finite. The "
        "last good checkpoint is kept; lower the learning rates or change "
        "the seed.")
  writers.write(row)
  text = " ".join(f"{key}={value:.3f}" for key, value in values.items()
                  if not key.endswith("_logit"))
  text += f" {row['images_per_sec']:.0f} img/s"
  if progress:
    progress.set_postfix_str(text, refresh=False)
  else:
    log.info("step %d: %s", step, text)
  return (step, now, start_time)


def _progress_bar(config, step, num_steps):
  mode = config.train.progress_bar
  if mode == "off" or (mode == "auto" and not sys.stderr.isatty()):
    return None
  if jax.process_index() != 0:
    return None
  from tqdm import tqdm
  return tqdm(total=num_steps, initial=step, unit="step", dynamic_ncols=True)
