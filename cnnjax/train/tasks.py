"""Task registry: what the train loop trains, by `config.task`.

A task supplies the state (shape-first), the compiled step, the periodic
work of the loop (GANs: sample grids; the classifier: test accuracy), and
the digests `cnnjax inspect` prints. The loop, checkpoints, resume,
logging and W&B are shared.
"""

import logging
import os
import types

from cnnjax.train import classifier
from cnnjax.train import sampling
from cnnjax.train import state as gan_state
from cnnjax.train import step as gan_step
from cnnjax.utils import images

log = logging.getLogger(__name__)


def _gan_periodic(config, modules, workdir, writers, is_chief):
  """Every sample step: a grid of the fixed latents (one row per class)."""
  sampler = sampling.FixedLatentSampler(config, modules)

  def periodic(step, state):
    path = os.path.join(workdir, "samples", f"step_{step}.png")
    if is_chief:
      images.save_grid(sampler(state), path, rows=sampler.rows)
      writers.write_image(step, "samples", path)
    return path

  return periodic


def _gan_evaluator(config, modules, mesh, workdir, writers, is_chief):
  """Every `eval.every_steps`: the metric row, and the best checkpoint."""
  if not config.eval.every_steps:
    return None
  from cnnjax.evaluation import evaluate
  from cnnjax.utils import checkpoint
  evaluator = evaluate.Evaluator(config, modules, mesh)
  best = checkpoint.BestCheckpoint(workdir)

  def run(step, state):
    row = {"step": step, **evaluator(state)}
    if is_chief:
      writers.write(row)
    best.update(step, state, row["fid"], row["extractor"])
    log.info("step %d: FID %.3f, KID %.5f, precision %.3f, recall %.3f, "
             "IS %.3f (%d samples, %s generator, %.1f s)", step, row["fid"],
             row["kid"], row["precision"], row["recall"],
             row["inception_score"], row["num_samples"], row["generator"],
             row["eval_seconds"])
    return row

  return run


def _gan_digests(state, tree_sha256) -> dict:
  return {
      "generator_sha256": tree_sha256({"params": state["g_params"],
                                       "buffers": state["g_buffers"],
                                       "ema": state.get("ema_params")}),
      "params_sha256": tree_sha256({"g": state["g_params"],
                                    "d": state["d_params"]}),
      "state_sha256": tree_sha256(state),
  }


TASKS = {
    "gan": types.SimpleNamespace(
        name="gan",
        make_modules=gan_state.make_modules,
        abstract_state=gan_state.abstract_state,
        init_state=gan_state.init_state,
        compile_step=gan_step.compile_step,
        count_params=gan_state.count_params,
        make_periodic=_gan_periodic,
        every_steps=lambda config: config.train.sample_every_steps,
        make_evaluator=_gan_evaluator,
        eval_every_steps=lambda config: config.eval.every_steps,
        digests=_gan_digests,
        steps_per_batch=lambda config: config.train.n_critic,
    ),
    "classifier": types.SimpleNamespace(
        name="classifier",
        make_modules=classifier.make_modules,
        abstract_state=classifier.abstract_state,
        init_state=classifier.init_state,
        compile_step=classifier.compile_step,
        count_params=classifier.count_params,
        make_periodic=classifier.make_periodic,
        every_steps=lambda config: config.train.eval_every_steps,
        # Its periodic work is its evaluation (test accuracy).
        make_evaluator=lambda *args: None,
        eval_every_steps=lambda config: 0,
        digests=classifier.digests,
        steps_per_batch=lambda config: 1,
    ),
}


def get(config):
  """The task of a config (configs without a `task` field are GANs)."""
  return TASKS[config.get("task", "gan")]
