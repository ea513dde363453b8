"""The phases of a GAN step, in the manner of StyleGAN2-ADA's training loop.

One step runs, `train.n_critic` times, D main (the adversarial loss, plus
penalties taken at every update, like WGAN-GP's) and D regularisation when
due (R1 every `loss.r1_every` D updates); then G main, and G regularisation
when due (path length regularisation); then the hooks: the generator EMA and ADA's probability.

Path length regularisation (StyleGAN2) is such a generator phase, with
its running mean of path lengths as the phase's state.

A `Regularizer` applied every k > 1 updates is a phase of its own: a
separate optimizer update of its network with the penalty times k, and
that network's Adam corrected by StyleGAN2's k / (k + 1) rule, so that lazy
equals eager in expectation. A discriminator phase with k = 1 is added to
D's main loss, as StyleGAN2's "Dboth" phase does; generator phases always
run as updates of their own (they draw their own latents).

All randomness comes from fold_in(fold_in(fold_in(seed key, step), D update
index), purpose), so a step's randomness never depends on history and
resumed or multi-device runs draw the same numbers.
"""

import dataclasses
import inspect
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax
from flax import nnx

from cnnjax import augment, losses, regularizers
from cnnjax.errors import ConfigError
from cnnjax.models.variables import BUFFERS

# Purposes for fold_in: a new random use gets a new constant, never a reuse.
PURPOSE_LATENT = 1
PURPOSE_FAKE_LABELS = 2
PURPOSE_AUGMENT_REAL = 3
PURPOSE_AUGMENT_FAKE = 4
PURPOSE_PENALTY = 5
PURPOSE_AUGMENT_GENERATOR = 6
PURPOSE_REGULARIZER = 7
PURPOSE_GENERATOR = 8  # G's own randomness: StyleGAN2's noise and mixing


def fresh(tree):
  """A copy of an NNX state whose variables belong to the current trace.

  Modules update their buffers in place, which NNX allows only at the trace
  level where the variables were created: buffers that enter a transform
  without being differentiated are rebuilt inside it.
  """
  return jax.tree.map(lambda x: x, tree)


@dataclasses.dataclass(frozen=True)
class Regularizer:
  """A regularisation phase of one network.

  `loss(ctx, params, buffers, inputs, key, state)` returns (the weighted
  penalty, times `every` when lazy; metrics; the phase's new state), where
  `inputs` are, for a discriminator phase, the (augmented) real images and
  labels of its D update, and for a generator phase the batch size (it
  draws its own latents with `ctx.draw(key, ...)`); `state` is what
  `init(config)` made (None for stateless phases).
  """
  name: str
  network: str  # "generator" or "discriminator"
  every: int
  loss: Callable
  metrics: tuple[str, ...]  # the names of its (scalar) metrics
  init: Callable[[Any], Any] = lambda config: None


def _r1_loss(ctx, params, buffers, inputs, key, state):
  del key
  real, labels = inputs
  gamma, every = ctx.config.loss.r1_gamma, ctx.config.loss.r1_every
  penalty = regularizers.r1_penalty(ctx.critic(params, buffers, labels), real)
  return (gamma / 2) * every * penalty, {"r1": penalty}, state


def _pl_loss(ctx, params, buffers, batch_size, key, pl_mean):
  """StyleGAN2's path length penalty on batch / shrink fresh latents (with
  style mixing and noise, as G trains): (|J_w^T y| - a)^2, a the running
  mean moved toward this batch's mean length before the penalty is taken
  (and, as in stylegan2-ada-pytorch, differentiated through)."""
  loss = ctx.config.loss
  n = max(1, batch_size // loss.pl_batch_shrink)
  z, labels = ctx.draw(key, n)
  generator = nnx.merge(ctx.modules.generator, params, fresh(buffers))
  g_key = jax.random.fold_in(key, PURPOSE_GENERATOR)
  ws = generator.styles(z, labels, key=g_key, train=True)
  lengths = regularizers.path_lengths(
      lambda w: generator.synthesis(w, key=jax.random.fold_in(g_key, 2)),
      ws, jax.random.fold_in(key, PURPOSE_PENALTY))
  mean = pl_mean + loss.pl_decay * (jnp.mean(lengths) - pl_mean)
  penalty = jnp.mean(jnp.square(lengths - mean))
  return (loss.pl_weight * loss.pl_every * penalty,
          {"pl_penalty": penalty, "pl_length": jnp.mean(lengths)},
          jax.lax.stop_gradient(mean))


def regularizer_phases(config) -> list[Regularizer]:
  """The regularisation phases a config enables."""
  phases = []
  if config.loss.r1_gamma > 0:
    phases.append(Regularizer("r1", "discriminator", config.loss.r1_every,
                              _r1_loss, metrics=("r1",)))
  if config.loss.pl_weight > 0:
    phases.append(Regularizer(
        "pl", "generator", config.loss.pl_every, _pl_loss,
        metrics=("pl_penalty", "pl_length"),
        init=lambda config: jnp.zeros((), jnp.float32)))
  return phases


def optimizer(config, network: str,
              phases: list[Regularizer] | None = None
              ) -> optax.GradientTransformation:
  """Adam of one network, corrected when a lazy phase regularises it."""
  optim = config.optim
  lr = optim.g_lr if network == "generator" else optim.d_lr
  b1, b2 = optim.b1, optim.b2
  if phases is None:
    phases = regularizer_phases(config)
  lazy = {p.every for p in phases if p.network == network and p.every > 1}
  if len(lazy) > 1:
    # StyleGAN2's correction assumes one regularisation interval per network.
    raise ConfigError(f"Invalid config: the {network}'s lazy regularisers "
                      f"have different intervals {sorted(lazy)}; use one.")
  if lazy:
    lr, b1, b2 = regularizers.lazy_regularization_adam(lr, b1, b2, lazy.pop())
  return optax.adam(lr, b1=b1, b2=b2)


@dataclasses.dataclass(frozen=True)
class StepContext:
  """What every phase of a step needs: the config, the graph definitions
  and optimizers, the loss functions, the latents' sharding."""
  config: Any
  modules: Any  # cnnjax.tasks.gan.state.Modules
  phases: tuple[Regularizer, ...]
  latent_sharding: Any

  @property
  def num_classes(self) -> int:
    return self.config.model.num_classes

  def losses(self):
    return losses.LOSSES[self.config.loss.name]

  def critic(self, params, buffers, labels):
    """D as training sees it, as a function of images, for penalties (which
    may run inside lax.cond's trace); its buffer updates are dropped."""
    def d_fn(images):
      module = nnx.merge(self.modules.discriminator, params, fresh(buffers))
      return module(images, labels, train=True)
    return d_fn

  def draw(self, key, batch_size: int):
    """Latents and (for conditional models) uniformly drawn class labels."""
    # threefry is partitionable, so z is the same on any number of devices.
    z = jax.lax.with_sharding_constraint(
        jax.random.normal(jax.random.fold_in(key, PURPOSE_LATENT),
                          (batch_size, self.config.model.generator.latent_dim)),
        self.latent_sharding)
    labels = None
    if self.num_classes:
      labels = jax.random.randint(jax.random.fold_in(key, PURPOSE_FAKE_LABELS),
                                  (batch_size,), 0, self.num_classes)
    return z, labels

  def generate(self, g_params, g_buffers, z, labels, key):
    """G in train mode: (images, G's updated buffers). `key` feeds the
    generators that draw randomness of their own (StyleGAN2's noise and
    style mixing)."""
    generator = nnx.merge(self.modules.generator, g_params, g_buffers)
    if takes_key(generator):
      fake = generator(z, labels, train=True,
                       key=jax.random.fold_in(key, PURPOSE_GENERATOR))
    else:
      fake = generator(z, labels, train=True)
    return fake, nnx.state(generator, BUFFERS)

  def augmented(self, images, key, probability):
    policy = self.config.augment.policy
    if not policy:
      return images
    return augment.diff_augment(images, key, policy, probability)


def takes_key(generator) -> bool:
  """Whether a generator draws randomness of its own (a `key` argument)."""
  return "key" in inspect.signature(type(generator).__call__).parameters


def _update(optimizer, grads, opt_state, params):
  updates, opt_state = optimizer.update(grads, opt_state, params)
  return optax.apply_updates(params, updates), opt_state


def discriminator_main(ctx: StepContext, d, d_opt, real, real_labels, fake,
                       fake_labels, key, reg_states):
  """D main: one optimizer step on the adversarial loss of (real, detached
  fake), both already augmented, plus the penalties taken at every update
  (WGAN-GP's, and regularisers with every = 1). Returns (d, d_opt,
  reg_states, metrics, E[sign D(real)])."""
  d_loss_fn, _ = ctx.losses()
  gp_weight = ctx.config.loss.gp_weight
  eager = [p for p in ctx.phases
           if p.network == "discriminator" and p.every == 1]

  def objective(params, buffers):
    discriminator = nnx.merge(ctx.modules.discriminator, params, fresh(buffers))
    real_logits = discriminator(real, real_labels, train=True)
    fake_logits = discriminator(fake, fake_labels, train=True)
    new_buffers = nnx.state(discriminator, BUFFERS)
    adversarial = d_loss_fn(real_logits, fake_logits)
    total, penalties, states = adversarial, {}, dict(reg_states)
    if gp_weight > 0:
      penalties["gp"] = regularizers.gradient_penalty(
          ctx.critic(params, new_buffers, real_labels), real, fake,
          jax.random.fold_in(key, PURPOSE_PENALTY))
      total = total + gp_weight * penalties["gp"]
    for phase in eager:
      loss, metrics, states[phase.name] = phase.loss(
          ctx, params, new_buffers, (real, real_labels),
          jax.random.fold_in(key, PURPOSE_REGULARIZER), reg_states[phase.name])
      total, penalties = total + loss, {**penalties, **metrics}
    return total, (new_buffers, adversarial, real_logits, fake_logits,
                   penalties, states)

  (_, (buffers, d_loss, real_logits, fake_logits, penalties, reg_states)), \
      grads = jax.value_and_grad(objective, has_aux=True)(d.params, d.buffers)
  params, d_opt = _update(ctx.modules.d_optimizer, grads, d_opt, d.params)
  metrics = {"d_loss": d_loss, "real_logit": jnp.mean(real_logits),
             "fake_logit": jnp.mean(fake_logits), **penalties}
  return (d.replace(params=params, buffers=buffers), d_opt, reg_states,
          metrics, jnp.mean(jnp.sign(real_logits)))


def regularize(ctx: StepContext, phase: Regularizer, network, opt_state,
               optimizer, inputs, key, reg_state, due):
  """A lazy phase: when `due` (traced), one optimizer update of `network`
  on the phase's loss; otherwise nothing. Its metrics are 0 when it did not
  run, and each comes with `<name>/runs` (1 or 0), so that logs average
  them over the updates that computed them (see `runs_metric`). Returns
  (network, opt_state, reg_state, metrics)."""
  key = jax.random.fold_in(key, PURPOSE_REGULARIZER)

  def run(carry):
    params, opt_state, reg_state = carry
    (_, (metrics, reg_state)), grads = jax.value_and_grad(
        lambda p: _without_state(phase.loss(ctx, p, network.buffers, inputs,
                                            key, reg_state)),
        has_aux=True)(params)
    params, opt_state = _update(optimizer, grads, opt_state, params)
    return (params, opt_state, reg_state), metrics

  carry = (network.params, opt_state, reg_state)
  skip = lambda carry: (carry, {name: jnp.zeros((), jnp.float32)
                                for name in phase.metrics})
  (params, opt_state, reg_state), metrics = jax.lax.cond(due, run, skip, carry)
  ran = jnp.asarray(due, jnp.float32)
  metrics.update({runs_metric(name): ran for name in phase.metrics})
  return network.replace(params=params), opt_state, reg_state, metrics


def runs_metric(name: str) -> str:
  """The companion of a metric that is not computed at every update: how
  many times it was (the loop averages `name` over those, not over steps)."""
  return f"{name}/runs"


def _without_state(output):
  loss, metrics, state = output
  return loss, (metrics, state)


class CriticOutput(NamedTuple):
  """What one D update reports."""
  metrics: dict  # D main's: d_loss, real_logit, fake_logit, penalties
  regularizers: dict  # the lazy phases' metrics, each with <name>/runs
  real_sign: jax.Array  # E[sign D(real)], ADA's overfitting heuristic


def critic_update(ctx: StepContext, d, d_opt, reg_states, real, real_labels,
                  fake, fake_labels, key, d_step, probability):
  """One D update: D main on augmented (real, detached fake), then the D
  regularisation phases that are due at D update `d_step`. Returns (d,
  d_opt, reg_states, CriticOutput)."""
  real_key = jax.random.fold_in(key, PURPOSE_AUGMENT_REAL)
  fake_key = (real_key if ctx.config.augment.same_for_real_and_fake else
              jax.random.fold_in(key, PURPOSE_AUGMENT_FAKE))
  real = ctx.augmented(real, real_key, probability)
  fake = ctx.augmented(jax.lax.stop_gradient(fake), fake_key, probability)
  d, d_opt, reg_states, metrics, real_sign = discriminator_main(
      ctx, d, d_opt, real, real_labels, fake, fake_labels, key, reg_states)
  reg_states, reg_metrics = dict(reg_states), {}
  for phase in ctx.phases:
    if phase.network == "discriminator" and phase.every > 1:
      d, d_opt, reg_states[phase.name], phase_metrics = regularize(
          ctx, phase, d, d_opt, ctx.modules.d_optimizer, (real, real_labels),
          key, reg_states[phase.name], d_step % phase.every == 0)
      reg_metrics.update(phase_metrics)
  return d, d_opt, reg_states, CriticOutput(metrics, reg_metrics, real_sign)


def generator_main(ctx: StepContext, g_params, g_opt, generator_vjp, fake,
                   fake_labels, d, key, probability):
  """G main: one optimizer step on G's adversarial loss, through the VJP of
  the forward pass it shares with the last D update. D's buffer updates of
  this pass are dropped: they would only re-estimate what D's update just
  recorded. Returns (g_params, g_opt, g_loss)."""
  _, g_loss_fn = ctx.losses()
  augment_key = jax.random.fold_in(key, PURPOSE_AUGMENT_GENERATOR)

  def objective(fake_images, d_params, d_buffers):
    discriminator = nnx.merge(ctx.modules.discriminator, d_params,
                              fresh(d_buffers))
    seen = ctx.augmented(fake_images, augment_key, probability)
    return g_loss_fn(discriminator(seen, fake_labels, train=True))

  g_loss, fake_grads = jax.value_and_grad(objective)(fake, d.params,
                                                     d.buffers)
  g_grads, _ = generator_vjp(fake_grads)
  g_params, g_opt = _update(ctx.modules.g_optimizer, g_grads, g_opt, g_params)
  return g_params, g_opt, g_loss


# --- Hooks: after the updates, on the new state. -----------------------------
# hook(config, state, new_state, info) -> (new_state, metrics), where `info`
# holds what the step's updates measured for them: "real_sign", the mean
# E[sign D(real)] over the step's D updates.


def ema_init(config, g_params):
  """The EMA starts at G's initial weights (None: no EMA)."""
  if config.ema.half_life_kimg <= 0:
    return None
  return jax.tree.map(jnp.copy, g_params)


def ema_beta(config, step: jax.Array) -> jax.Array:
  """Per-step EMA decay from a half-life in kimg, with StyleGAN2's ramp-up:
  early on the half-life is at most `rampup` times the images seen so far."""
  images_per_step = config.train.batch_size
  half_life = jnp.asarray(config.ema.half_life_kimg * 1000.0, jnp.float32)
  if config.ema.rampup > 0:
    seen = (step + 1).astype(jnp.float32) * images_per_step
    half_life = jnp.minimum(half_life, seen * config.ema.rampup)
  return 0.5 ** (images_per_step / jnp.maximum(half_life, 1e-8))


def ema_hook(config, state, new_state, info):
  """The EMA of G's params after step `state.step`."""
  del info
  if state.ema_params is None:
    return new_state, {}
  beta = ema_beta(config, state.step)
  ema = jax.tree.map(lambda e, p: beta * e + (1.0 - beta) * p,
                     state.ema_params, new_state.generator.params)
  return new_state.replace(ema_params=ema), {}


def ada_init(config):
  """ADA starts unaugmented (None: no ADA)."""
  return jnp.zeros((), jnp.float32) if config.augment.ada_target > 0 else None


def ada_hook(config, state, new_state, info):
  """ADA's probability, moved by E[sign D(real)] over the step's D updates
  (all the real images the adjustment counts)."""
  if state.ada_p is None:
    return new_state, {}
  p = augment.ada_update(
      state.ada_p, info["real_sign"], target=config.augment.ada_target,
      batch_size=config.train.batch_size * config.train.n_critic,
      adjust_kimg=config.augment.ada_kimg, interval=1)
  return new_state.replace(ada_p=p), {"ada_p": p}


HOOKS = (ema_hook, ada_hook)
