"""`cnnjax bench`: the speed of a config's real train step, or of its input
pipeline, as one JSON line.

The step is the one `train` compiles (same function, shardings and donation),
fed with a synthetic batch that is already on the devices, so the number is
the step alone: no input pipeline, no logging, no checkpoints.
"""

import statistics
import time

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import NamedSharding, PartitionSpec

from cnnjax import config as config_lib
from cnnjax import data
from cnnjax import models
from cnnjax.train import state as state_lib
from cnnjax.train import step as step_lib
from cnnjax.train import tasks


def _synthetic_batch(config, mesh):
  """A batch in the train step's layout, uniform in [-1, 1], on the devices."""
  rng = np.random.default_rng(0)
  shape = (tasks.get(config).steps_per_batch(config), config.train.batch_size)
  size = config.data.resolution
  images = rng.uniform(-1, 1, (*shape, size, size, config.data.channels))
  labels = rng.integers(0, max(config.model.get("num_classes", 0), 1), shape)
  sharding = step_lib.batch_sharding(mesh)
  return {"image": jax.device_put(images.astype(np.float32), sharding),
          "label": jax.device_put(labels.astype(np.int32), sharding)}


def matmul_rate(mesh, dtype=jnp.float32, repeats: int = 20) -> float:
  """GFLOP/s of one square matmul per device, all devices at once: the
  yardstick for `gflops_per_sec`, measured on the same devices in the same
  process. The matrices are large enough to reach the rate (1024 on CPUs,
  8192 on accelerators) and accumulate in float32 whatever `dtype` is. The
  best of `repeats` runs: the rate the hardware reaches, which a busy moment
  (the step's buffers being freed, another process) only lowers."""
  size = 1024 if mesh.devices.flat[0].platform == "cpu" else 8192
  sharding = NamedSharding(mesh, PartitionSpec(state_lib.DATA_AXIS))
  # Made on the devices, so it also works when they span several hosts.
  a = jax.jit(lambda: jnp.ones((mesh.size, size, size), dtype),
              out_shardings=sharding)()
  matmul = jax.jit(lambda a: jnp.einsum(
      "bij,bjk->bik", a, a, preferred_element_type=jnp.float32))
  jax.block_until_ready(matmul(a))
  best = float("inf")
  for _ in range(repeats):
    start = time.perf_counter()
    jax.block_until_ready(matmul(a))
    best = min(best, time.perf_counter() - start)
  return 2 * mesh.size * size**3 / best / 1e9


def bench_step(config, steps: int = 20, warmup: int = 3, devices=None) -> dict:
  """Times `steps` train steps after compilation and `warmup` steps."""
  mesh = state_lib.make_mesh(devices)
  config_lib.validate(config, mesh.size)
  task = tasks.get(config)
  modules = task.make_modules(config)
  abstract = task.abstract_state(config, modules, mesh)
  state = task.init_state(config, modules, mesh)
  train_step, _ = task.compile_step(config, modules, mesh, abstract)
  batch = _synthetic_batch(config, mesh)

  start = time.perf_counter()
  lowered = train_step.lower(state, batch)
  # Tracing and lowering run on every launch; XLA's compilation is skipped
  # when the persistent compilation cache has the program.
  trace_s = time.perf_counter() - start
  compiled = lowered.compile()
  compile_s = time.perf_counter() - start
  cost = compiled.cost_analysis()
  cost = cost[0] if isinstance(cost, (list, tuple)) else cost
  flops = float((cost or {}).get("flops", float("nan")))

  for _ in range(warmup):
    state, metrics = compiled(state, batch)
  jax.block_until_ready(metrics)
  times = []
  for _ in range(steps):
    start = time.perf_counter()
    state, metrics = compiled(state, batch)
    jax.block_until_ready(metrics)
    times.append(time.perf_counter() - start)
  step_s = statistics.median(times)
  matmul = matmul_rate(mesh, models.COMPUTE_DTYPES[config.model.compute_dtype]
                       or jnp.float32)
  images = config.train.batch_size  # images G produces and D judges per step
  return {
      "config": config.model.name,
      "batch_size": images,
      "steps_per_batch": tasks.get(config).steps_per_batch(config),
      "images_per_sec": images / step_s,
      "step_ms": 1000 * step_s,
      "step_ms_min": 1000 * min(times),
      "compile_s": compile_s,
      "trace_s": trace_s,
      "flops_per_step": flops,
      "gflops_per_sec": flops / step_s / 1e9,
      # The step's FLOP rate against a plain matmul's in its compute dtype.
      "matmul_gflops_per_sec": matmul,
      "share_of_matmul": flops / step_s / 1e9 / matmul,
      "device_kind": mesh.devices.flat[0].device_kind,
      "device_count": mesh.size,
      "steps": steps,
  }


def bench_pipeline(config, batches: int = 200) -> dict:
  """The input pipeline alone, in images per second."""
  per_step = tasks.get(config).steps_per_batch(config)
  result = data.measure_pipeline(
      config.data, global_batch_size=config.train.batch_size * per_step,
      num_batches=batches, seed=config.train.seed)
  return {"pipeline": config.data.name, **result}
