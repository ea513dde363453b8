"""What the CLI's `sample` and `inspect` do, as functions a test can call."""

import json
import logging
import os

import jax
import numpy as np

from cnnjax.errors import UserError
from cnnjax.train import run as run_lib
from cnnjax.train import sampling
from cnnjax.train import state as state_lib
from cnnjax.train import tasks
from cnnjax.utils import images
from cnnjax.utils.trees import tree_sha256

log = logging.getLogger(__name__)

PURPOSE_SAMPLE = 2001  # fold_in purpose of `cnnjax sample` latents


def sample(workdir: str, num: int, out: str, seed: int = 0,
           step: int | None = None, overwrite: bool = False,
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
  config, modules, step, state = run_lib.load_run(workdir, step)
  if tasks.get(config).name != "gan":
    raise UserError(f"{workdir} holds a {tasks.get(config).name}, not a "
                    "generator; sample needs a GAN run.")
  num_classes = config.model.num_classes
  if class_label is not None and not 0 <= class_label < max(num_classes, 1):
    raise UserError(
        f"--class {class_label} is not a class of this run" +
        (f" (0..{num_classes - 1})." if num_classes else
         ": its model is unconditional; leave out --class."))
  used_ema = "ema_params" in state  # sampling.generate prefers the EMA
  z, labels, rows = sampling.grid_inputs(seed, num, config.model.latent_dim,
                                         num_classes, PURPOSE_SAMPLE,
                                         class_label)
  generate = jax.jit(lambda state, z, labels: sampling.generate(
      modules, state, z, labels))
  pictures = np.concatenate([
      np.asarray(generate(state, z[i:i + batch_size],
                          None if labels is None else labels[i:i + batch_size]))
      for i in range(0, len(z), batch_size)])
  images.save_grid(pictures, out, rows=rows)
  weights = "EMA generator" if used_ema else "generator (no EMA in this run)"
  log.info("Sampled %d images from the %s at step %d.", len(z), weights, step)
  return {"out": os.path.abspath(out), "step": step, "num": len(z),
          "ema": used_ema, "class": class_label}


def evaluate(workdir: str, step: int | str | None = None,
             extractor: str | None = None,
             num_samples: int | None = None) -> dict:
  """The metric row of a checkpoint, also appended to metrics.jsonl.

  GANs: FID, KID, precision/recall, IS (and class accuracy) against the
  reference statistics of `eval.split`; a classifier: its test accuracy.
  """
  from cnnjax.evaluation import evaluate as evaluate_lib
  from cnnjax.train import classifier
  from cnnjax.utils import writers
  config, modules, step, state = run_lib.load_run(workdir, step)
  if tasks.get(config).name == "classifier":
    row = {"step": step, **classifier.TestSetEvaluator(config, modules)(state)}
  else:
    evaluator = evaluate_lib.Evaluator(
        config, modules, state_lib.make_mesh(), extractor=extractor,
        num_samples=num_samples)
    row = {"step": step, **evaluator(state)}
  if jax.process_index() == 0:
    writers.JsonlWriter(workdir).write(row)
  return row


def inspect(workdir: str, step: int | None = None) -> dict:
  """Step, size and digests of the newest (or given) checkpoint."""
  config, _, step, state = run_lib.load_run(workdir, step)
  task = tasks.get(config)
  return {"step": step, "num_params": task.count_params(state),
          **task.digests(state, tree_sha256)}


def print_json(row: dict) -> None:
  print(json.dumps(row), flush=True)
