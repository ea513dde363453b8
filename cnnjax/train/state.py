"""The training state: one pytree holding everything a resume needs.

Keys: step, rng, generator/discriminator parameters and buffers (every
non-parameter variable: batch statistics, spectral-norm vectors), ADA's
augmentation probability when ADA is on,
both optimizer states, and (when enabled) the EMA of the generator's
parameters. It is built shape-first (`jax.eval_shape`), then initialised by a
jitted function straight into its shardings, so a large model never
materialises on one device first.
"""

import dataclasses
from typing import Any

import jax
import jax.numpy as jnp
import ml_collections
import optax
from flax import nnx
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from cnnjax import models, regularizers

TrainState = dict[str, Any]
DATA_AXIS = "data"
# Everything a module holds that is not trained by the optimizer: batch
# statistics, power-iteration vectors. Modules update them in train mode.
BUFFERS = nnx.Not(nnx.Param)


@dataclasses.dataclass(frozen=True)
class Modules:
  """The static halves of `nnx.split`: what the pure functions merge into."""
  generator: nnx.GraphDef
  discriminator: nnx.GraphDef
  g_optimizer: optax.GradientTransformation
  d_optimizer: optax.GradientTransformation


def make_mesh(devices=None) -> Mesh:
  """A 1-D data-parallel mesh over `devices` (default: every device)."""
  devices = list(devices if devices is not None else jax.devices())
  return jax.make_mesh((len(devices),), (DATA_AXIS,), devices=devices,
                       axis_types=(jax.sharding.AxisType.Auto,))


def uses_ema(config: ml_collections.ConfigDict) -> bool:
  return config.ema.half_life_kimg > 0


def make_modules(config: ml_collections.ConfigDict) -> Modules:
  abstract_g, abstract_d = nnx.eval_shape(lambda: models.build(config, 0))
  d_lr, d_b1, d_b2 = config.optim.d_lr, config.optim.b1, config.optim.b2
  if config.loss.r1_gamma > 0 and config.loss.r1_every > 1:
    # Lazy R1 changes the effective step of D; StyleGAN2's correction.
    d_lr, d_b1, d_b2 = regularizers.lazy_regularization_adam(
        d_lr, d_b1, d_b2, config.loss.r1_every)
  return Modules(
      generator=nnx.graphdef(abstract_g),
      discriminator=nnx.graphdef(abstract_d),
      g_optimizer=optax.adam(config.optim.g_lr, b1=config.optim.b1,
                             b2=config.optim.b2),
      d_optimizer=optax.adam(d_lr, b1=d_b1, b2=d_b2))


def _init_state(config: ml_collections.ConfigDict, modules: Modules) -> TrainState:
  seed = config.train.seed
  generator, discriminator = models.build(config, seed)
  _, g_params, g_buffers = nnx.split(generator, nnx.Param, BUFFERS)
  _, d_params, d_buffers = nnx.split(discriminator, nnx.Param, BUFFERS)
  state = {
      "step": jnp.zeros((), jnp.int32),
      "rng": jax.random.PRNGKey(seed),
      "g_params": g_params,
      "g_buffers": g_buffers,
      "d_params": d_params,
      "d_buffers": d_buffers,
      "g_opt": modules.g_optimizer.init(g_params),
      "d_opt": modules.d_optimizer.init(d_params),
  }
  if uses_ema(config):
    state["ema_params"] = jax.tree.map(jnp.copy, g_params)
  if config.augment.ada_target > 0:
    state["ada_p"] = jnp.zeros((), jnp.float32)  # ADA starts unaugmented
  return state


def abstract_of(init_fn, mesh: Mesh):
  """Shapes, dtypes and (replicated) shardings of `init_fn()`'s state, with
  no compute: the first half of shape-first initialisation."""
  replicated = NamedSharding(mesh, PartitionSpec())
  return jax.tree.map(
      lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=replicated),
      jax.eval_shape(init_fn))


def init_replicated(init_fn, mesh: Mesh):
  """`init_fn()` computed by one jitted call straight into its shardings, so
  a large model never materialises on one device first."""
  shardings = jax.tree.map(lambda x: x.sharding, abstract_of(init_fn, mesh))
  return jax.jit(init_fn, out_shardings=shardings)()


def abstract_state(config, modules: Modules, mesh: Mesh) -> TrainState:
  return abstract_of(lambda: _init_state(config, modules), mesh)


def init_state(config, modules: Modules, mesh: Mesh) -> TrainState:
  return init_replicated(lambda: _init_state(config, modules), mesh)


def count_params(state: TrainState) -> int:
  """Trainable parameters of generator and discriminator together."""
  return sum(x.size for x in jax.tree.leaves((state["g_params"],
                                              state["d_params"])))


def generator_for_sampling(modules: Modules, state: TrainState,
                           prefer_ema: bool = True) -> nnx.Module:
  """The generator to sample from: its EMA weights when the state has them."""
  use_ema = prefer_ema and "ema_params" in state
  params = state["ema_params"] if use_ema else state["g_params"]
  return nnx.merge(modules.generator, params, state["g_buffers"])
