"""The train loop's log: rows of the step metrics, and the guard against
non-finite numbers.

Rows average the metrics over the steps since the last log step (a lazy
regulariser's over the updates that computed it), without blocking the
device: the sums stay on the device, and a log step's row is read only
after the next step is queued. The running window goes into every
checkpoint (`window_state`), so a resumed run logs what a straight one does.

Every compiled step also reports whether its losses and new state are all
finite (`tasks.base.NONFINITE`); the sums are read at each log row and
before each checkpoint, and a step that was not finite raises `Diverged`
there: a non-finite state is never checkpointed.
"""

import logging
import math
import sys
import time

import jax
import jax.numpy as jnp

from cnnjax.tasks.base import NONFINITE

log = logging.getLogger("cnnjax.train.loop")

RUNS = "/runs"  # see `averages`


class Diverged(Exception):
  """A step gave a non-finite loss or state, at or before `step`."""

  def __init__(self, step: int, what: str):
    super().__init__(f"step {step}: {what}")
    self.step = step
    self.what = what


class MetricsLogger:
  """Log rows of the step metrics (see the module docstring)."""

  def __init__(self, config, writers, step, window: dict | None = None):
    self.config = config
    self.writers = writers
    self.progress = progress_bar(config, step, config.train.num_steps)
    self.start_time = time.time()
    self.restart(step, window)

  def restart(self, step: int, window: dict | None) -> None:
    """Continues from `step` with the window a checkpoint carried (after a
    resume or a rollback)."""
    self.first_step = step
    self.window = (step, time.time())  # throughput since (step, time)
    self.sums, self.count = None, 0
    if window and window["count"]:
      self.count = window["count"]
      self.sums = {key: jnp.asarray(value, dtype)
                   for key, (value, dtype) in window["sums"].items()}
    self.pending = None  # (step, sums, count) of a log step not yet written
    if self.progress:
      self.progress.reset(total=self.config.train.num_steps)
      self.progress.update(step)

  def window_state(self, step: int) -> dict:
    """The steps since the last row, as a checkpoint keeps them: float32
    sums are exact in JSON, so a resumed run adds to the same numbers.
    Raises Diverged when one of them was not finite."""
    sums = jax.device_get(self.sums) if self.sums else {}
    if float(sums.get(NONFINITE, 0)) > 0:
      raise Diverged(step, "a loss or the state became non-finite")
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
    """Writes one log row; raises Diverged instead if a step of the window
    was not finite.

    Reading the metrics waits for their step to finish, so the throughput
    is measured between completed steps, not between dispatches.
    """
    values = averages(jax.device_get(sums), count)
    nonfinite = values.pop(NONFINITE, 0.0)
    bad = sorted(k for k, v in values.items() if not math.isfinite(v))
    if bad or nonfinite:
      raise Diverged(step, f"{', '.join(bad)} not finite" if bad else
                     "the state became non-finite")
    window_step, window_time = self.window
    now = time.time()
    rate = (step - window_step) / max(now - window_time, 1e-9)
    row = {"step": step, **values, "steps_per_sec": rate,
           "images_per_sec": rate * self.config.train.batch_size,
           "wall_time": now - self.start_time}
    self.writers.write(row, "train")
    text = " ".join(f"{key}={value:.3f}" for key, value in values.items()
                    if not key.endswith("_logit"))
    text += f" {row['images_per_sec']:.0f} img/s"
    if self.progress:
      self.progress.set_postfix_str(text, refresh=False)
    else:
      log.info("step %d: %s", step, text)
    self.window = (step, now)


def averages(sums: dict, count: int) -> dict:
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


def progress_bar(config, step, num_steps):
  mode = config.train.progress_bar
  if mode == "off" or (mode == "auto" and not sys.stderr.isatty()):
    return None
  if jax.process_index() != 0:
    return None
  from tqdm import tqdm
  return tqdm(total=num_steps, initial=step, unit="step", dynamic_ncols=True)
