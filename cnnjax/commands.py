"""What the CLI's `sample`, `eval` and `inspect` do, as functions a test can
call. They read runs through `cnnjax.runs` and ask the run's task; none of
them names a task."""

import json
import logging
import os

import jax

from cnnjax import runs
from cnnjax import workdir as workdir_lib
from cnnjax.errors import UserError
from cnnjax.utils import images, writers

log = logging.getLogger(__name__)


def sample(workdir: str, num: int, out: str, seed: int = 0,
           step: int | str | None = None, overwrite: bool = False,
           class_label: int | None = None, batch_size: int = 256) -> dict:
  """Writes a grid of `num` samples of the workdir's checkpoint to `out`.

  For a conditional model, `class_label` draws that class; without it the
  grid has one row per class.
  """
  if num <= 0:
    raise UserError(f"--num must be positive, not {num}.")
  if not out.lower().endswith(".png"):
    raise UserError(f"--out must name a .png file, not {out!r}.")
  if os.path.exists(out) and not overwrite:
    raise UserError(f"{out} exists; choose another --out or pass --overwrite.")
  run = runs.load(workdir, step)
  sample_fn = getattr(run.task, "sample", None)
  if sample_fn is None:
    raise UserError(f"{workdir} holds a {run.task.name} run, which has no "
                    "generator; sample needs a GAN run.")
  pictures, rows, used_ema = sample_fn(run.state, num, seed=seed,
                                       class_label=class_label,
                                       batch_size=batch_size)
  images.save_grid(pictures, out, rows=rows)
  weights = "EMA generator" if used_ema else "generator (no EMA in this run)"
  log.info("Sampled %d images from the %s at step %d.", len(pictures),
           weights, run.step)
  return {"out": os.path.abspath(out), "step": run.step, "num": len(pictures),
          "ema": used_ema, "class": class_label}


def evaluate(workdir: str, step: int | str | None = None,
             extractor: str | None = None,
             num_samples: int | None = None) -> dict:
  """The metric row of a checkpoint, also appended to metrics.jsonl.

  GANs: FID, KID, precision/recall, IS (and class accuracy) against the
  reference statistics of `eval.split`; a classifier: its test accuracy.
  """
  run = runs.load(workdir, step)
  # Only the options given: a task's evaluate need not take them.
  options = {key: value for key, value in (("extractor", extractor),
                                           ("num_samples", num_samples))
             if value is not None}
  row = {"step": run.step, **run.task.evaluate(run.state, run.mesh,
                                               **options)}
  if jax.process_index() == 0:
    writers.JsonlWriter(workdir).write(row)
  return row


def inspect(workdir: str, step: int | str | None = None) -> dict:
  """Step, size and digests of the newest (or given) checkpoint, and the
  workdir's checkpoints."""
  run = runs.load(workdir, step)
  stored = workdir_lib.checkpoints(workdir)
  return {"step": run.step, "task": run.task.name,
          "num_params": run.task.count_params(run.state),
          **run.task.digests(run.state),
          "checkpoints": stored["steps"], "best_step": stored["best"]}


def print_json(row: dict) -> None:
  print(json.dumps(row), flush=True)
