"""The GAN train step: the phases of `phases.py` in order, as one pure
function of (state, batch), compiled once by the task.

`train.n_critic` D updates, each on its own real batch and latent draw,
then the G update and the hooks. The last D update and the G update share
one generator forward pass through `jax.vjp`, as PyTorch's canonical DCGAN
loop does, so with n_critic = 1 the generator runs forward once per step.
"""

import jax
import jax.numpy as jnp
from jax.sharding import Mesh

from cnnjax import sharding
from cnnjax.tasks.gan import phases as phases_lib
from cnnjax.tasks.gan.state import GanState, Modules


def make_step_fn(config, modules: Modules, mesh: Mesh,
                 phases: list[phases_lib.Regularizer] | None = None):
  """The un-jitted step: (state, batch) -> (new state, metrics).

  `batch` holds "image" [n_critic, B, H, W, C] and "label" [n_critic, B].
  `phases` replaces the config's regularisation phases (for tests of the
  phase mechanism); the optimizers in `modules` must match them.
  """
  ctx = phases_lib.StepContext(
      config=config, modules=modules,
      phases=tuple(phases_lib.regularizer_phases(config) if phases is None
                   else phases),
      latent_sharding=sharding.batch_sharding(mesh))
  n_critic = config.train.n_critic
  num_classes = config.model.num_classes

  def critic_step(carry, g_params, key, real, labels, index, step,
                  probability):
    """D update `index` of this step, with a generator forward of its own."""
    d, d_opt, reg_states, g_buffers = carry
    critic_key = jax.random.fold_in(key, index)
    z, fake_labels = ctx.draw(critic_key, real.shape[0])
    fake, g_buffers = ctx.generate(g_params, g_buffers, z, fake_labels,
                                   critic_key)
    d, d_opt, reg_states, output = phases_lib.critic_update(
        ctx, d, d_opt, reg_states, real, labels, fake, fake_labels,
        critic_key, step * n_critic + index, probability)
    return (d, d_opt, reg_states, g_buffers), output

  # An inner jit, so JAX traces it once for all n_critic - 1 calls (tracing
  # an SN ResNet D update takes seconds); XLA inlines the calls, so the
  # program is the unrolled one. Not lax.scan: XLA:CPU runs convolutions
  # inside a while loop up to 10x slower (SNGAN n_critic=5 measured 25
  # s/step rolled vs 4 s unrolled), and n_critic is small.
  jitted_critic_step = jax.jit(critic_step)

  def step_fn(state: GanState, batch):
    step = state.step
    key = jax.random.fold_in(state.rng, step)
    reals = batch["image"]
    real_labels = batch["label"] if num_classes else None
    labels_of = lambda i: None if real_labels is None else real_labels[i]
    probability = (state.ada_p if state.ada_p is not None
                   else config.augment.probability)
    g_params = state.generator.params

    carry = (state.discriminator, state.d_opt, state.regularizers,
             state.generator.buffers)
    outputs = []
    for index in range(n_critic - 1):
      carry, output = jitted_critic_step(
          carry, g_params, key, reals[index], labels_of(index),
          jnp.asarray(index, jnp.int32), step, probability)
      outputs.append(output)
    d, d_opt, reg_states, g_buffers = carry

    # The last D update shares its generator forward with G main.
    last = n_critic - 1
    critic_key = jax.random.fold_in(key, last)
    z, fake_labels = ctx.draw(critic_key, reals.shape[1])
    fake, generator_vjp, g_buffers = jax.vjp(
        lambda p, b: ctx.generate(p, b, z, fake_labels, critic_key),
        g_params, g_buffers,
        has_aux=True)
    d, d_opt, reg_states, output = phases_lib.critic_update(
        ctx, d, d_opt, reg_states, reals[last], labels_of(last), fake,
        fake_labels, critic_key, step * n_critic + last, probability)
    outputs.append(output)
    # D main's metrics of the last update; the lazy phases' summed with
    # their run counts over all the step's updates (the log divides).
    metrics = dict(output.metrics)
    metrics.update(jax.tree.map(lambda *values: sum(values),
                                *[o.regularizers for o in outputs]))
    info = {"real_sign": sum(o.real_sign for o in outputs) / n_critic}
    g_params, g_opt, metrics["g_loss"] = phases_lib.generator_main(
        ctx, g_params, state.g_opt, generator_vjp, fake, fake_labels, d,
        critic_key, probability)
    generator = state.generator.replace(params=g_params, buffers=g_buffers)
    for ordinal, phase in enumerate(ctx.phases):
      if phase.network == "generator":
        # Keys past the D updates' own (0 .. n_critic - 1).
        phase_key = jax.random.fold_in(key, n_critic + ordinal)
        generator, g_opt, reg_states[phase.name], phase_metrics = (
            phases_lib.regularize(
                ctx, phase, generator, g_opt, modules.g_optimizer,
                reals[last].shape[0], phase_key, reg_states[phase.name],
                step % phase.every == 0))
        metrics.update(phase_metrics)

    new_state = state.replace(step=step + 1, generator=generator,
                              discriminator=d, g_opt=g_opt, d_opt=d_opt,
                              regularizers=reg_states)
    for hook in phases_lib.HOOKS:
      new_state, hook_metrics = hook(config, state, new_state, info)
      metrics.update(hook_metrics)
    return new_state, metrics

  return step_fn
