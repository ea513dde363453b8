"""The GAN step: compiled once, data-parallel, its phases and hooks."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from cnnjax import sharding, tasks
from cnnjax.tasks.gan import phases


def _setup(config, devices=None):
  mesh = sharding.make_mesh(devices)
  task = tasks.build(config, mesh.size)
  abstract = task.abstract_state(mesh)
  state = task.create_state(mesh)
  step, traces = task.compile_step(mesh, abstract)
  return mesh, state, step, traces


def _batch(config, mesh, seed):
  rng = np.random.default_rng(seed)
  shape = (config.train.n_critic, config.train.batch_size)
  size, channels = config.data.resolution, config.data.channels
  images = rng.uniform(-1, 1, (*shape, size, size, channels)
                       ).astype(np.float32)
  labels = rng.integers(0, 10, shape).astype(np.int32)
  batch_sharding = sharding.batch_sharding(mesh, 2)
  return {"image": jax.device_put(images, batch_sharding),
          "label": jax.device_put(labels, batch_sharding)}


def test_step_traces_once_and_donates(tiny_config):
  mesh, state, step, traces = _setup(tiny_config)
  assert mesh.size == 8  # the conftest's fake devices
  for i in range(3):
    previous = state
    state, metrics = step(state, _batch(tiny_config, mesh, i))
    assert previous.generator.params["to_image"]["kernel"][...].is_deleted()
  assert traces == [1]
  assert int(state.step) == 3
  assert all(np.isfinite(float(v)) for v in metrics.values())
  batch = _batch(tiny_config, mesh, 0)["image"]
  assert len(batch.sharding.device_set) == 8
  assert batch.addressable_shards[0].data.shape[1] == 2  # 16 rows / 8 devices


def test_eight_devices_match_one(tiny_config):
  results = []
  for devices in (jax.devices()[:1], jax.devices()):
    mesh, state, step, _ = _setup(tiny_config, devices)
    for i in range(3):
      state, metrics = step(state, _batch(tiny_config, mesh, i))
    results.append((jax.device_get(state), jax.device_get(metrics)))
  (one, one_metrics), (eight, eight_metrics) = results
  for a, b in zip(jax.tree.leaves(one), jax.tree.leaves(eight)):
    np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
  for key in one_metrics:
    np.testing.assert_allclose(one_metrics[key], eight_metrics[key], rtol=1e-4)


def test_ema_rampup_shortens_the_early_half_life(tiny_config):
  tiny_config.ema.half_life_kimg = 10.0
  tiny_config.ema.rampup = 0.05
  # After step 0 (16 images seen) the half-life is 0.05 * 16 = 0.8 images.
  assert np.isclose(phases.ema_beta(tiny_config, jnp.int32(0)),
                    0.5 ** (16 / 0.8))
  # Once 0.05 * seen exceeds 10k images, the configured half-life holds.
  assert np.isclose(phases.ema_beta(tiny_config, jnp.int32(20000)),
                    0.5 ** (16 / 10000), rtol=1e-6)


def test_ema_follows_half_life(tiny_config):
  tiny_config.ema.half_life_kimg = 0.016  # 16 images: one batch of 16
  decay = phases.ema_beta(tiny_config, jnp.int32(0))
  assert np.isclose(decay, 0.5)
  mesh, state, step, _ = _setup(tiny_config)
  ema_before = jax.device_get(state.ema_params)
  state, _ = step(state, _batch(tiny_config, mesh, 0))
  params, ema = jax.device_get((state.generator.params, state.ema_params))
  for e0, p, e1 in zip(jax.tree.leaves(ema_before), jax.tree.leaves(params),
                       jax.tree.leaves(ema)):
    np.testing.assert_allclose(e1, 0.5 * e0 + 0.5 * p, rtol=1e-6, atol=1e-7)


def test_divergence_stops_with_a_clear_error(tiny_config, tmp_path):
  from cnnjax.train import loop
  tiny_config.optim.g_lr = tiny_config.optim.d_lr = 1e30
  tiny_config.train.log_every_steps = 1
  try:
    loop.train_and_evaluate(tiny_config, str(tmp_path))
  except loop.TrainingDiverged as error:
    assert "not finite" in str(error) and error.exit_code == 1
  else:
    raise AssertionError("a learning rate of 1e30 should diverge")


@pytest.mark.slow
def test_critic_updates_match_the_eager_loop():
  """With n_critic = 3 the first two D updates are one inner jit traced once
  (a traced update index); the compiled step must compute what the plain
  Python loop computes op by op (index, keys and real batch per update)."""
  from tests.conftest import load_config
  # The MLP GAN: the loop is the same for every family, and op-by-op
  # execution of a convolutional one took most of a minute. Its networks
  # have no batch norm, so every parameter and optimizer state compares.
  config = load_config("mlp_gan", "tiny")
  config.train.n_critic = 3
  config.ema.half_life_kimg = 1.0
  devices = jax.devices()[:1]
  mesh, state, step, traces = _setup(config, devices)
  batch = _batch(config, mesh, 0)
  step_fn = tasks.build(config).step_fn(mesh)
  with jax.disable_jit():
    eager, eager_metrics = step_fn(jax.tree.map(jnp.copy, state), batch)
  compiled, metrics = step(state, batch)
  assert traces == [1]
  # atol: a parameter whose gradient is near 0 moves by Adam's sign of
  # float noise, up to lr per update; on an AVX2-only CPU (no AVX-512) one
  # of sngan's differed by 9.1e-5 (with lr = 2e-4), where AVX-512 machines
  # stayed within 1e-5.
  for a, b in zip(jax.tree.leaves(jax.device_get(eager)),
                  jax.tree.leaves(jax.device_get(compiled))):
    np.testing.assert_allclose(a, b, rtol=1e-4, atol=2e-4)
  assert float(metrics.pop("nonfinite")) == 0  # the compiled step's guard
  assert set(metrics) == set(eager_metrics)
  for key in metrics:
    np.testing.assert_allclose(eager_metrics[key], metrics[key], rtol=1e-4)
