"""What the CLI's `sample`, `eval` and `inspect` do, as functions a test can
call. They read runs through `cnnjax.runs` and ask the run's task; none of
them names a task."""

import json
import logging
import os

import jax
import numpy as np

from cnnjax import runs
from cnnjax import workdir as workdir_lib
from cnnjax.errors import UserError
from cnnjax.utils import images, writers

log = logging.getLogger(__name__)


def sample(workdir: str, num: int, out: str, seed: int = 0,
           step: int | str | None = None, overwrite: bool = False,
           class_label: int | None = None, batch_size: int = 256,
           truncation: float | list[float] = 1.0,
           noise_mode: str | None = None,
           style_mix: int | None = None) -> dict:
  """Writes a grid of `num` samples of the workdir's checkpoint to `out`.

  For a conditional model, `class_label` draws that class; without it the
  grid has one row per class. Generators with a W space (StyleGAN2) also
  take `truncation` psi, `noise_mode` (random, const, none) and
  `style_mix` L: StyleGAN2's style-mixing figure of min(num, 8) row and
  column latents, rows' styles on layers < L, columns' from L on. Several
  psi values make the truncation figure: the same latents once per psi,
  one row each (a conditional model without a class: one row per class
  and psi).
  """
  psis = list(truncation) if isinstance(truncation, (list, tuple)) else [
      truncation]
  if not psis:
    raise UserError("--truncation needs at least one psi.")
  if len(psis) > 1 and style_mix is not None:
    raise UserError("--style_mix takes one --truncation psi, not "
                    f"{len(psis)}.")
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
  for psi in psis:
    _check_style_options(run, workdir, psi, noise_mode, style_mix)
  if style_mix is not None:
    pictures, rows, used_ema = run.task.style_mixing(
        run.state, min(num, 8), style_mix, seed=seed,
        class_label=class_label, truncation=psis[0])
  else:
    blocks = []
    for psi in psis:  # the same seed: the same latents at every psi
      options = {"truncation": psi, "noise_mode": noise_mode}
      pictures, rows, used_ema = sample_fn(
          run.state, num, seed=seed, class_label=class_label,
          batch_size=batch_size,
          **{k: v for k, v in options.items() if v not in (None, 1.0)})
      blocks.append(pictures)
    if len(psis) > 1:
      pictures, rows = np.concatenate(blocks), len(psis) * (rows or 1)
  images.save_grid(pictures, out, rows=rows)
  weights = "EMA generator" if used_ema else "generator (no EMA in this run)"
  log.info("Sampled %d images from the %s at step %d.", len(pictures),
           weights, run.step)
  return {"out": os.path.abspath(out), "step": run.step, "num": len(pictures),
          "ema": used_ema, "class": class_label,
          "truncation": psis[0] if len(psis) == 1 else psis,
          "noise_mode": noise_mode, "style_mix": style_mix}


def _check_style_options(run, workdir, truncation, noise_mode,
                         style_mix) -> None:
  """--truncation, --noise_mode and --style_mix need a W space."""
  from cnnjax.models import stylegan2
  given = [flag for flag, value, default in
           (("--truncation", truncation, 1.0), ("--noise_mode", noise_mode,
                                                None),
            ("--style_mix", style_mix, None)) if value != default]
  if not given:
    return
  generator = run.config.model.generator
  if generator.name != "stylegan2":
    raise UserError(f"{', '.join(given)} need a generator with a W space "
                    f"(stylegan2); {workdir} has {generator.name!r}.")
  if noise_mode is not None and noise_mode not in stylegan2.NOISE_MODES:
    raise UserError(f"--noise_mode={noise_mode!r}: use one of "
                    f"{', '.join(stylegan2.NOISE_MODES)}.")
  num_ws = run.task.num_ws()
  if style_mix is not None and not 1 <= style_mix < num_ws:
    raise UserError(f"--style_mix={style_mix}: the layer from which the "
                    f"columns' styles apply, 1..{num_ws - 1} for this "
                    f"{num_ws}-layer generator.")


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
