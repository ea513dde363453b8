"""The GAN train state: one typed pytree holding everything a resume needs,
and the static halves (graph definitions, optimizers) the step merges into.
"""

import dataclasses
from typing import Any

import flax.struct
import jax
import jax.numpy as jnp
import optax
from flax import nnx

from cnnjax import models
from cnnjax.models import variables
from cnnjax.tasks.gan import phases


@flax.struct.dataclass
class GanState:
  """Generator and discriminator (params and buffers: batch statistics,
  spectral-norm vectors), their optimizer states, and what the enabled hooks
  and regularisation phases keep."""
  step: jax.Array  # int32: G updates done
  rng: jax.Array  # the run's key; every use folds in the step and a purpose
  generator: variables.Network
  discriminator: variables.Network
  g_opt: Any
  d_opt: Any
  ema_params: Any = None  # EMA of the generator's params (ema.half_life_kimg)
  ada_p: jax.Array | None = None  # ADA's augmentation probability
  # Each regularisation phase's own state, by phase name (empty for R1).
  regularizers: dict = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(frozen=True)
class Modules:
  """The static halves of `nnx.split`: what the pure functions merge into."""
  generator: nnx.GraphDef
  discriminator: nnx.GraphDef
  g_optimizer: optax.GradientTransformation
  d_optimizer: optax.GradientTransformation


def build_networks(config, seed: int) -> tuple[nnx.Module, nnx.Module]:
  """(generator, discriminator) of a config, initialised from `seed` (one
  stream of keys, G's first)."""
  rngs = nnx.Rngs(seed)
  common = dict(resolution=config.data.resolution,
                channels=config.data.channels,
                num_classes=config.model.num_classes,
                compute_dtype=config.model.compute_dtype, rngs=rngs)
  return (models.build("generator", config.model.generator, **common),
          models.build("discriminator", config.model.discriminator, **common))


def make_modules(config) -> Modules:
  abstract_g, abstract_d = nnx.eval_shape(lambda: build_networks(config, 0))
  return Modules(
      generator=nnx.graphdef(abstract_g),
      discriminator=nnx.graphdef(abstract_d),
      g_optimizer=phases.optimizer(config, "generator"),
      d_optimizer=phases.optimizer(config, "discriminator"))


def init_state(config, modules: Modules) -> GanState:
  generator, discriminator = build_networks(config, config.train.seed)
  _, g = variables.split(generator)
  _, d = variables.split(discriminator)
  return GanState(
      step=jnp.zeros((), jnp.int32),
      rng=jax.random.PRNGKey(config.train.seed),
      generator=g, discriminator=d,
      g_opt=modules.g_optimizer.init(g.params),
      d_opt=modules.d_optimizer.init(d.params),
      ema_params=phases.ema_init(config, g.params),
      ada_p=phases.ada_init(config),
      regularizers={phase.name: phase.init(config)
                    for phase in phases.regularizer_phases(config)})


def sampling_params(state: GanState, prefer_ema: bool = True):
  """The generator params to sample with: the EMA when the state has one."""
  if prefer_ema and state.ema_params is not None:
    return state.ema_params
  return state.generator.params
