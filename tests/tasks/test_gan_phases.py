"""The GAN step's phases: a lazy regulariser is an optimizer update of its
own, on the network its main phase just updated, every k updates; the
phase mechanism carries a phase's own state (as path-length
regularisation's running mean will need)."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import optax

from cnnjax import regularizers, sharding
from cnnjax.tasks.gan import phases
from cnnjax.tasks.gan import state as state_lib
from cnnjax.tasks.gan import step as step_lib
from tests.conftest import load_config


def _batch(config, mesh, seed):
  rng = np.random.default_rng(seed)
  shape = (config.train.n_critic, config.train.batch_size)
  images = rng.uniform(-1, 1, (*shape, 32, 32, 1)).astype(np.float32)
  batch_sharding = sharding.batch_sharding(mesh, 2)
  return {"image": jax.device_put(images, batch_sharding),
          "label": jax.device_put(np.zeros(shape, np.int32), batch_sharding)}


def _run(config, modules, mesh, phase_list, state, batch):
  step = jax.jit(step_lib.make_step_fn(config, modules, mesh, phase_list))
  return step(state, batch)


def _config():
  # The MLP GAN: no normalisation in D (as R1 needs) and quick to compile.
  config = load_config("mlp_gan", "tiny")
  config.data.resolution = 32
  return config


def test_lazy_r1_is_its_own_adam_step_after_d_main():
  """With r1_every = 2: at D update 0 the D params are D main's update, then
  one Adam step (of the same, corrected optimizer) on (gamma / 2) * 2 * R1
  at those params; at D update 1, D main's update alone."""
  mesh = sharding.make_mesh(jax.devices()[:1])
  lazy = _config()
  lazy.loss.r1_gamma, lazy.loss.r1_every = 3.0, 2
  plain = _config()  # the same step without the R1 phase...
  modules = state_lib.make_modules(lazy)  # ...and with R1's corrected Adam
  state = state_lib.init_state(lazy, modules)
  batch = _batch(lazy, mesh, 0)
  with_r1, metrics = _run(lazy, modules, mesh, None, state, batch)
  main_only, _ = _run(plain, modules, mesh, [], state, batch)
  assert float(metrics["r1/runs"]) == 1 and float(metrics["r1"]) > 0

  d = main_only.discriminator
  critic = phases.StepContext(lazy, modules, (), None).critic
  real = batch["image"][0]
  penalty = lambda p: regularizers.r1_penalty(critic(p, d.buffers, None), real)
  grads = jax.grad(lambda p: 3.0 / 2 * 2 * penalty(p))(d.params)
  updates, expected_opt = modules.d_optimizer.update(grads, main_only.d_opt,
                                                     d.params)
  expected = optax.apply_updates(d.params, updates)
  for a, b in zip(jax.tree.leaves(expected),
                  jax.tree.leaves(with_r1.discriminator.params)):
    np.testing.assert_allclose(a, b, rtol=2e-5, atol=1e-6)
  for a, b in zip(jax.tree.leaves(expected_opt),
                  jax.tree.leaves(with_r1.d_opt)):
    np.testing.assert_allclose(a, b, rtol=2e-5, atol=1e-6)
  np.testing.assert_allclose(float(metrics["r1"]), float(penalty(d.params)),
                             rtol=1e-5)

  # The next D update (index 1) is not due: D main alone.
  batch = _batch(lazy, mesh, 1)
  after, metrics = _run(lazy, modules, mesh, None, with_r1, batch)
  main, _ = _run(plain, modules, mesh, [], with_r1, batch)
  assert float(metrics["r1/runs"]) == 0 and float(metrics["r1"]) == 0
  assert jax.tree.all(jax.tree.map(jnp.array_equal, after.discriminator,
                                   main.discriminator))


def _counting_l2(weight):
  """A stateful generator phase: an L2 penalty on G's params that counts
  its runs in its own state (as path length keeps its running mean)."""
  def loss(ctx, params, buffers, inputs, key, count):
    del ctx, buffers, inputs, key
    l2 = sum(jnp.sum(p ** 2) for p in jax.tree.leaves(params))
    return weight * l2, {"l2": l2}, count + 1
  return phases.Regularizer("l2", "generator", every=2, loss=loss,
                            metrics=("l2",),
                            init=lambda config: jnp.zeros((), jnp.int32))


def test_a_generator_phase_runs_every_k_steps_with_its_own_state():
  mesh = sharding.make_mesh(jax.devices()[:1])
  config = _config()
  phase = _counting_l2(1e-3)
  base = state_lib.make_modules(config)
  modules = dataclasses.replace(
      base, g_optimizer=phases.optimizer(config, "generator", [phase]))
  assert modules.g_optimizer is not base.g_optimizer
  state = state_lib.init_state(config, modules)
  state = state.replace(regularizers={"l2": phase.init(config)})
  batch = _batch(config, mesh, 0)
  regularized, metrics = _run(config, modules, mesh, [phase], state, batch)
  main_only, _ = _run(config, modules, mesh, [],
                      state.replace(regularizers={}), batch)
  assert int(regularized.regularizers["l2"]) == 1
  assert float(metrics["l2/runs"]) == 1
  g = main_only.generator.params
  grads = jax.tree.map(lambda p: 2e-3 * p, g)
  updates, _ = modules.g_optimizer.update(grads, main_only.g_opt, g)
  expected = optax.apply_updates(g, updates)
  for a, b in zip(jax.tree.leaves(expected),
                  jax.tree.leaves(regularized.generator.params)):
    np.testing.assert_allclose(a, b, rtol=2e-5, atol=1e-7)
  np.testing.assert_allclose(
      float(metrics["l2"]), float(sum(jnp.sum(p ** 2)
                                      for p in jax.tree.leaves(g))), rtol=1e-5)
  # Step 1: not due; the state is carried unchanged.
  again, metrics = _run(config, modules, mesh, [phase], regularized,
                        _batch(config, mesh, 1))
  assert int(again.regularizers["l2"]) == 1
  assert float(metrics["l2/runs"]) == 0


def test_eager_r1_is_added_to_the_main_loss():
  """With r1_every = 1 (StyleGAN2's "Dboth"), one Adam step on the
  adversarial loss plus (gamma / 2) R1, recomputed here from the same
  latents."""
  mesh = sharding.make_mesh(jax.devices()[:1])
  config = _config()
  config.loss.r1_gamma, config.loss.r1_every = 3.0, 1
  modules = state_lib.make_modules(config)
  state = state_lib.init_state(config, modules)
  batch = _batch(config, mesh, 0)
  new, metrics = _run(config, modules, mesh, None, state, batch)
  assert "r1/runs" not in metrics  # computed at every update

  ctx = phases.StepContext(config, modules, (), None)
  key = jax.random.fold_in(jax.random.fold_in(state.rng, 0), 0)
  z = jax.random.normal(jax.random.fold_in(key, phases.PURPOSE_LATENT),
                        (config.train.batch_size, 16))
  fake, _ = ctx.generate(state.generator.params, state.generator.buffers, z,
                         None, key)
  real = batch["image"][0]
  d = state.discriminator
  d_loss_fn, _ = ctx.losses()

  def objective(params):
    critic = ctx.critic(params, d.buffers, None)
    return (d_loss_fn(critic(real), critic(fake)) +
            3.0 / 2 * regularizers.r1_penalty(critic, real))

  updates, _ = modules.d_optimizer.update(jax.grad(objective)(d.params),
                                          state.d_opt, d.params)
  expected = optax.apply_updates(d.params, updates)
  for a, b in zip(jax.tree.leaves(expected),
                  jax.tree.leaves(new.discriminator.params)):
    np.testing.assert_allclose(a, b, rtol=2e-5, atol=1e-6)
  critic = ctx.critic(d.params, d.buffers, None)
  np.testing.assert_allclose(float(metrics["r1"]),
                             float(regularizers.r1_penalty(critic, real)),
                             rtol=1e-5)
