"""The enhance task: learn to undo random colour and contrast degradations.

Each step takes a batch of photographs x (crops at data.resolution, in
[0, 1]), degrades every image with its own random parameters d
(adjust.sample, from the key fold_in(rng, step): the same on any number of
devices and after a resume), stores the result in 8 bits as a photo file
would be, and trains the enhancer E to predict correction parameters from
the degraded image y:

  loss = mean((adjust.correct(y, E(y)) - x)^2)

The pixel loss, not a loss on parameters: many parameter vectors give the
same picture (exposure against contrast against the tone curve), and the
curve's exact inverse is not one of the model's curves; what matters is
the image. E's head starts at zero, so training starts from the identity.

With degrade.target_jitter > 0, x itself is first varied by a milder random
degradation (its own key, fold_in(key, PURPOSE_JITTER)): with a handful of
training photos, the network otherwise learns each photo's one right look
and recognises it, which held-out photos do not reward.
"""

from typing import Any

import flax.struct
import jax
import jax.numpy as jnp
import optax
from jax.sharding import Mesh

from cnnjax import config as config_lib
from cnnjax.editing import adjust, enhance
from cnnjax.errors import UserError
from cnnjax.models import variables
from cnnjax.tasks import base
from cnnjax.tasks.enhance import config as enhance_config
from cnnjax.tasks.enhance import evaluate as evaluate_lib

PURPOSE_JITTER = 1  # fold_in purpose within a step (the degradation: none)


@flax.struct.dataclass
class EnhanceState:
  step: jax.Array
  rng: jax.Array
  enhancer: variables.Network
  opt: Any


def quantize(images: jax.Array) -> jax.Array:
  """Values in [0, 1] rounded to 8 bits, as a saved photo holds them."""
  return jnp.round(images * 255.0) / 255.0


class EnhanceTask(base.Task):
  """A `model.enhancer` network trained to undo `degrade`'s degradations."""

  name = "enhance"
  config_module = enhance_config

  def __init__(self, config):
    super().__init__(config)
    self.model_values = config_lib.to_dict(config)["model"]
    self.data_values = config_lib.to_dict(config)["data"]
    self.graphdef = enhance.graphdef(self.model_values, self.data_values)
    self.optimizer = optax.adam(config.optim.lr, b1=config.optim.b1,
                                b2=config.optim.b2)
    self.ranges = config.degrade.to_dict()

  def init_state(self) -> EnhanceState:
    seed = self.config.train.seed
    _, network = variables.split(enhance.build(self.model_values,
                                               self.data_values, seed))
    return EnhanceState(step=jnp.zeros((), jnp.int32),
                        rng=jax.random.PRNGKey(seed), enhancer=network,
                        opt=self.optimizer.init(network.params))

  def predict(self, network: variables.Network, images01, params=None):
    """Correction parameters [B, P] of images [B, H, W, 3] in [0, 1]."""
    return enhance.predict(self.graphdef, network, images01, params)

  def step_fn(self, mesh: Mesh):
    del mesh  # the batch's sharding is all the step needs
    jitter = self.config.degrade.target_jitter

    def step_fn(state: EnhanceState, batch):
      originals = (batch["image"] + 1.0) / 2.0
      key = jax.random.fold_in(state.rng, state.step)
      if jitter:
        variation = adjust.sample(jax.random.fold_in(key, PURPOSE_JITTER),
                                  originals.shape[:1], self.ranges) * jitter
        originals = adjust.degrade(originals, adjust.per_image(variation))
      degradation = adjust.sample(key, originals.shape[:1], self.ranges)
      degraded = quantize(adjust.degrade(originals,
                                         adjust.per_image(degradation)))

      def objective(params):
        predicted = self.predict(state.enhancer, degraded, params)
        corrected = adjust.correct(degraded, adjust.per_image(predicted))
        return jnp.mean((corrected - originals) ** 2), None

      enhancer, opt, loss, _ = base.descend(self.optimizer, state.enhancer,
                                            state.opt, objective)
      # PSNRs of the batch's pooled MSE: what the loss is, in dB.
      degraded_mse = jnp.mean((degraded - originals) ** 2)
      return (state.replace(step=state.step + 1, enhancer=enhancer,
                            opt=opt),
              {"loss": loss, "psnr": -10.0 * jnp.log10(loss),
               "psnr_degraded": -10.0 * jnp.log10(degraded_mse)})

    return step_fn

  def enhancer(self, state: EnhanceState) -> enhance.Enhancer:
    return enhance.Enhancer(self.graphdef, jax.device_get(state.enhancer),
                            self.config.data.resolution, int(state.step))

  def evaluate(self, state, mesh: Mesh, *, extractor: str | None = None,
               num_samples: int | None = None) -> dict:
    """PSNR and SSIM on the held-out degraded photos (evaluate.py), for the
    first eval.num_images (or --num_samples) of them."""
    del mesh
    if extractor is not None:
      raise UserError("--extractor is for generator runs; an enhance run is "
                      "measured by PSNR and SSIM to the original photos.")
    if num_samples is not None and num_samples < 1:
      raise UserError(f"--num_samples={num_samples} must be positive.")
    return evaluate_lib.Evaluator(self.config, num_samples)(
        self.enhancer(state))

  def periodic(self, run: base.RunContext) -> list[base.PeriodicWork]:
    held_out = evaluate_lib.HeldOut(self.config, evaluate_lib.GRID_COLUMNS,
                                    evaluate_lib.GRID_SIZE)

    def grid(state):
      """Held-out photos: degraded, enhanced and original rows."""
      return evaluate_lib.grid_rows(self.enhancer(state), held_out), 3

    work = [base.grid_work(run, self.config.train.sample_every_steps,
                           "enhanced", grid)]
    if self.config.eval.every_steps:
      evaluator = evaluate_lib.Evaluator(self.config)
      evaluator.fixed_scores()  # scikit-image missing fails before step 1
      work.append(base.eval_work(
          run, self.config.eval.every_steps,
          lambda state: evaluator(self.enhancer(state)), _describe))
    return work

  def summary(self, step: int, results: dict, workdir: str) -> str:
    del workdir
    return base.summary_text(step, results, _describe)


def _describe(row: dict) -> str:
  return (f"Held-out PSNR {row['psnr_enhanced']:.2f} dB (degraded "
          f"{row['psnr_degraded']:.2f}), SSIM {row['ssim_enhanced']:.3f}")
