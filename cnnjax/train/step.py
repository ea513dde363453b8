"""The GAN train step: a pure function of (state, batch), compiled once.

One step draws a latent batch, updates the discriminator on real and
(detached) fake images, then updates the generator through the updated
discriminator, reusing the generator's forward pass through `jax.vjp` as
PyTorch's canonical DCGAN loop does. All randomness comes from
`fold_in(fold_in(seed_key, step), purpose)`, so a step's randomness never
depends on history and resumed or multi-device runs draw the same numbers.
"""

import jax
import jax.numpy as jnp
import ml_collections
import optax
from flax import nnx
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from cnnjax import losses
from cnnjax.train import state as state_lib
from cnnjax.train.state import BUFFERS

# Purposes for fold_in: a new random use gets a new constant, never a reuse.
PURPOSE_LATENT = 1


def _fresh(tree):
  """A copy of an NNX state whose variables belong to the current trace."""
  return jax.tree.map(lambda x: x, tree)


def step_key(state_rng: jax.Array, step: jax.Array, purpose: int) -> jax.Array:
  return jax.random.fold_in(jax.random.fold_in(state_rng, step), purpose)


def make_step_fn(config: ml_collections.ConfigDict, modules: state_lib.Modules,
                 mesh: Mesh):
  """The un-jitted step: (state, batch) -> (new state, metrics)."""
  d_loss_fn, g_loss_fn = losses.LOSSES[config.loss.name]
  decay = state_lib.ema_decay(config)
  batch_sharding = NamedSharding(mesh, PartitionSpec(state_lib.DATA_AXIS))

  def step_fn(state, batch):
    real = batch["image"]
    key = step_key(state["rng"], state["step"], PURPOSE_LATENT)
    # threefry is partitionable, so z is the same on any number of devices.
    z = jax.lax.with_sharding_constraint(
        jax.random.normal(key, (real.shape[0], config.model.latent_dim)),
        batch_sharding)

    # Modules update their buffers in place, which NNX allows only at the
    # trace level where the variables were created: buffers that enter a
    # transform without being differentiated are rebuilt inside it.
    def generate(g_params, g_buffers):
      generator = nnx.merge(modules.generator, g_params, g_buffers)
      fake = generator(z, train=True)
      return fake, nnx.state(generator, BUFFERS)

    fake, generator_vjp, g_buffers = jax.vjp(generate, state["g_params"],
                                           state["g_buffers"], has_aux=True)

    def discriminator_objective(d_params, d_buffers):
      discriminator = nnx.merge(modules.discriminator, d_params,
                                _fresh(d_buffers))
      real_logits = discriminator(real, train=True)
      fake_logits = discriminator(jax.lax.stop_gradient(fake), train=True)
      loss = d_loss_fn(real_logits, fake_logits)
      return loss, (nnx.state(discriminator, BUFFERS), real_logits,
                    fake_logits)

    (d_loss, (d_buffers, real_logits, fake_logits)), d_grads = (
        jax.value_and_grad(discriminator_objective, has_aux=True)(
            state["d_params"], state["d_buffers"]))
    d_updates, d_opt = modules.d_optimizer.update(d_grads, state["d_opt"],
                                                  state["d_params"])
    d_params = optax.apply_updates(state["d_params"], d_updates)

    def generator_objective(fake_images, d_params, d_buffers):
      # The buffer updates of this pass are dropped: they would only
      # re-estimate what the discriminator step just recorded.
      discriminator = nnx.merge(modules.discriminator, d_params,
                                _fresh(d_buffers))
      return g_loss_fn(discriminator(fake_images, train=True))

    g_loss, fake_grads = jax.value_and_grad(generator_objective)(
        fake, d_params, d_buffers)
    g_grads, _ = generator_vjp(fake_grads)
    g_updates, g_opt = modules.g_optimizer.update(g_grads, state["g_opt"],
                                                  state["g_params"])
    g_params = optax.apply_updates(state["g_params"], g_updates)

    new_state = dict(state, step=state["step"] + 1, g_params=g_params,
                     g_buffers=g_buffers, d_params=d_params, d_buffers=d_buffers,
                     g_opt=g_opt, d_opt=d_opt)
    if "ema_params" in state:
      new_state["ema_params"] = jax.tree.map(
          lambda e, p: decay * e + (1.0 - decay) * p, state["ema_params"],
          g_params)
    metrics = {
        "d_loss": d_loss,
        "g_loss": g_loss,
        "d_real": jnp.mean(jax.nn.sigmoid(real_logits)),
        "d_fake": jnp.mean(jax.nn.sigmoid(fake_logits)),
    }
    return new_state, metrics

  return step_fn


def compile_step(config, modules: state_lib.Modules, mesh: Mesh,
                 abstract: state_lib.TrainState):
  """Jits the step with explicit shardings; the state's buffers are donated.

  Returns (jitted step, trace counter): the counter is a one-element list
  incremented each time JAX traces the step, so tests can assert it is 1.
  """
  step_fn = make_step_fn(config, modules, mesh)
  traces = [0]

  def counted(state, batch):
    traces[0] += 1
    return step_fn(state, batch)

  state_shardings = jax.tree.map(lambda x: x.sharding, abstract)
  replicated = NamedSharding(mesh, PartitionSpec())
  batch_sharding = NamedSharding(mesh, PartitionSpec(state_lib.DATA_AXIS))
  jitted = jax.jit(counted,
                   in_shardings=(state_shardings, batch_sharding),
                   out_shardings=(state_shardings, replicated),
                   donate_argnums=0)
  return jitted, traces
