"""`cnnjax bench`: the speed of a config's real train step, or of its input
pipeline, as one JSON line.

The step is the one `train` compiles (same function, shardings and donation),
fed with a synthetic batch that is already on the devices, so the number is
the step alone: no input pipeline, no logging, no checkpoints.
"""

import math
import statistics
import time

import jax
import jax.numpy as jnp
import numpy as np

from cnnjax import data, models, sharding, tasks
from cnnjax.utils import compile_cache


def _synthetic_batch(task, mesh):
  """A batch in the train step's layout (images uniform in [-1, 1], labels
  of the model's classes), on the devices."""
  rng = np.random.default_rng(0)
  classes = max(task.config.model.get("num_classes", 0), 1)
  batch_sharding = task.batch_sharding(mesh)
  batch = {}
  for key, (shape, dtype) in task.batch_spec().items():
    values = (rng.integers(0, classes, shape) if dtype == "int32" else
              rng.uniform(-1, 1, shape))
    batch[key] = jax.device_put(values.astype(dtype), batch_sharding)
  return batch


def matmul_rate(mesh, dtype=jnp.float32, repeats: int = 20) -> float:
  """GFLOP/s of one square matmul per device, all devices at once: the
  yardstick for `gflops_per_sec`, measured on the same devices in the same
  process. The matrices are large enough to reach the rate (1024 on CPUs,
  8192 on accelerators) and accumulate in float32 whatever `dtype` is. The
  best of `repeats` runs: the rate the hardware reaches, which a busy moment
  (the step's buffers being freed, another process) only lowers."""
  size = 1024 if mesh.devices.flat[0].platform == "cpu" else 8192
  # Made on the devices, so it also works when they span several hosts.
  a = jax.jit(lambda: jnp.ones((mesh.size, size, size), dtype),
              out_shardings=sharding.batch_sharding(mesh))()
  matmul = jax.jit(lambda a: jnp.einsum(
      "bij,bjk->bik", a, a, preferred_element_type=jnp.float32))
  jax.block_until_ready(matmul(a))
  best = float("inf")
  for _ in range(repeats):
    start = time.perf_counter()
    jax.block_until_ready(matmul(a))
    best = min(best, time.perf_counter() - start)
  return 2 * mesh.size * size**3 / best / 1e9


def compile_report(config, devices=None) -> dict:
  """What one train step of `config` costs, compiled but never run (no
  state is allocated): parameters, XLA's FLOPs per step (the program
  `bench_step` times) and the memory it needs per device."""
  mesh = sharding.make_mesh(devices)
  task = tasks.build(config, mesh.size)
  abstract = task.abstract_state(mesh)
  train_step, _ = task.compile_step(mesh, abstract)
  layout = task.batch_sharding(mesh)
  batch = {key: jax.ShapeDtypeStruct(shape, dtype, sharding=layout)
           for key, (shape, dtype) in task.batch_spec().items()}
  compiled = train_step.lower(abstract, batch).compile()
  memory = compiled.memory_analysis()
  peak = None
  if memory is not None:  # arguments and outputs (less donated ones), temps
    peak = (memory.argument_size_in_bytes + memory.output_size_in_bytes -
            memory.alias_size_in_bytes + memory.temp_size_in_bytes)
  return {"num_params": int(task.count_params(abstract)),
          "flops_per_step": _flops(compiled),
          "peak_bytes_per_device": peak,
          "device_kind": mesh.devices.flat[0].device_kind,
          "device_count": mesh.size}


def _flops(compiled) -> float:
  cost = compiled.cost_analysis()
  cost = cost[0] if isinstance(cost, (list, tuple)) else cost
  return float((cost or {}).get("flops", float("nan")))


def bench_step(config, steps: int = 20, warmup: int = 3, devices=None) -> dict:
  """Times `steps` train steps after compilation and `warmup` steps."""
  mesh = sharding.make_mesh(devices)
  task = tasks.build(config, mesh.size)
  abstract = task.abstract_state(mesh)
  state = task.create_state(mesh)
  train_step, _ = task.compile_step(mesh, abstract)
  batch = _synthetic_batch(task, mesh)

  start = time.perf_counter()
  lowered = train_step.lower(state, batch)
  # Tracing and lowering run on every launch; XLA's compilation is skipped
  # when the persistent compilation cache has the program.
  trace_s = time.perf_counter() - start
  with compile_cache.Watch() as cache:
    compiled = lowered.compile()
  compile_s = time.perf_counter() - start
  flops = _flops(compiled)

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
  dtype = config.model.get("compute_dtype", "float32")
  matmul = matmul_rate(mesh, models.COMPUTE_DTYPES[dtype] or jnp.float32)
  images = config.train.batch_size  # e.g. images G produces and D judges
  return {
      "task": task.name,
      "networks": {role: section.name for role, section in config.model.items()
                   if hasattr(section, "items")},
      "batch_size": images,
      # Real batches one step consumes (a GAN: one per D update).
      "batches_per_step": math.prod(task.batch_dims()) // images,
      "images_per_sec": images / step_s,
      "step_ms": 1000 * step_s,
      "step_ms_min": 1000 * min(times),
      "compile_s": compile_s,
      "trace_s": trace_s,
      # "hit": compile_s was a load from the persistent compilation cache
      # (cnnjax.utils.compile_cache), "miss": XLA compiled, "off": no cache.
      "compile_cache": cache.outcome,
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
  task = tasks.build(config)
  result = data.measure_pipeline(
      config.data, global_batch_size=math.prod(task.batch_dims()),
      num_batches=batches, seed=config.train.seed)
  return {"pipeline": config.data.name, **result}
