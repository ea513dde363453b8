"""The pure train step: compiled once, data-parallel, EMA arithmetic."""

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import NamedSharding, PartitionSpec

from cnnjax.train import state as state_lib
from cnnjax.train import step as step_lib


def _setup(config, devices=None):
  mesh = state_lib.make_mesh(devices)
  modules = state_lib.make_modules(config)
  abstract = state_lib.abstract_state(config, modules, mesh)
  state = state_lib.init_state(config, modules, mesh)
  step, traces = step_lib.compile_step(config, modules, mesh, abstract)
  return mesh, state, step, traces


def _batch(config, mesh, seed):
  images = np.random.default_rng(seed).uniform(
      -1, 1, (config.train.batch_size, 32, 32, 1)).astype(np.float32)
  sharding = NamedSharding(mesh, PartitionSpec(state_lib.DATA_AXIS))
  return {"image": jax.device_put(images, sharding)}


def test_step_traces_once_and_donates(tiny_config):
  mesh, state, step, traces = _setup(tiny_config)
  assert mesh.size == 8  # the conftest's fake devices
  for i in range(3):
    previous = state
    state, metrics = step(state, _batch(tiny_config, mesh, i))
    assert previous["g_params"]["to_image"]["kernel"][...].is_deleted()
  assert traces == [1]
  assert int(state["step"]) == 3
  assert all(np.isfinite(float(v)) for v in metrics.values())
  batch = _batch(tiny_config, mesh, 0)["image"]
  assert len(batch.sharding.device_set) == 8


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


def test_ema_follows_half_life(tiny_config):
  tiny_config.ema.half_life_kimg = 0.016  # 16 images: one batch of 16
  decay = state_lib.ema_decay(tiny_config)
  assert np.isclose(decay, 0.5)
  mesh, state, step, _ = _setup(tiny_config)
  ema_before = jax.device_get(state["ema_params"])
  state, _ = step(state, _batch(tiny_config, mesh, 0))
  params, ema = jax.device_get((state["g_params"], state["ema_params"]))
  for e0, p, e1 in zip(jax.tree.leaves(ema_before), jax.tree.leaves(params),
                       jax.tree.leaves(ema)):
    np.testing.assert_allclose(e1, 0.5 * e0 + 0.5 * p, rtol=1e-6, atol=1e-7)


def test_latents_do_not_depend_on_history():
  key = jax.random.PRNGKey(0)
  a = step_lib.step_key(key, jnp.int32(7), step_lib.PURPOSE_LATENT)
  b = step_lib.step_key(key, jnp.int32(7), step_lib.PURPOSE_LATENT)
  c = step_lib.step_key(key, jnp.int32(8), step_lib.PURPOSE_LATENT)
  assert np.array_equal(a, b) and not np.array_equal(a, c)
