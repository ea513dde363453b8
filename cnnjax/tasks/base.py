"""The Task protocol: everything the shared loop needs to train something.

A task is built from its validated config (`tasks.build`) and supplies:

  config_module         its config module: default_config() (the full schema:
                        shared fields + its own) and validate(config) (checks
                        of its own sections, before anything compiles)
  init_state()          its typed initial state (traced shape-first)
  step_fn(mesh)         the pure step (state, batch) -> (state, metrics)
  batch_dims()          the leading dims of one step's batch of images
  data_streams()        optional: image streams beside config.data (AdaIN's
                        style images), in the batch as "<name>_image"
  periodic(run)         work every N steps: sample grids, evaluations
  evaluate(state, mesh, **options)  what `cnnjax eval` measures (options:
                        extractor, num_samples, passed only when given)
  digests(state)        what `cnnjax inspect` prints
  weight_fields(state)  what warm starts may load; warm_started(...) fix-ups
                        after they loaded it
  sample(state, num, seed=, class_label=, batch_size=)   optional: tasks
                        with a generator have it, and `cnnjax sample` uses it

States are flax.struct dataclasses whose networks are
`cnnjax.models.variables.Network`s (params and buffers), so a network is
addressed by the same path in every task
("generator", "classifier"): that is what warm starts and feature networks
load from other runs' checkpoints.
"""

import abc
import dataclasses
import logging
import os
from collections.abc import Callable
from typing import Any, ClassVar

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
from jax.sharding import Mesh

from cnnjax import config as config_lib
from cnnjax import sharding
from cnnjax.models.variables import Network
from cnnjax.utils import compile_cache
from cnnjax.utils import images as images_lib
from cnnjax.utils.trees import all_finite, tree_sha256

# The metric every compiled step adds: 1.0 when its losses or new state hold
# a NaN or an infinity (the loop's guard reads it; logs leave it out).
NONFINITE = "nonfinite"

log = logging.getLogger(__name__)


def networks(state) -> dict[str, Network]:
  """The networks of a state, by field name."""
  return {field.name: getattr(state, field.name)
          for field in dataclasses.fields(state)
          if isinstance(getattr(state, field.name), Network)}


@dataclasses.dataclass(frozen=True)
class RunContext:
  """What periodic work may use: where to write, and on which devices."""
  workdir: str
  mesh: Mesh
  writers: Any  # cnnjax.utils.writers.Writers
  is_chief: bool  # process 0, the one writer of files


@dataclasses.dataclass(frozen=True)
class PeriodicWork:
  """Work every `every` steps, and once more at the end of a run that
  trained (unless it just ran). `run(step, state)` returns its result, which
  `train` returns under `name`."""
  name: str
  every: int
  run: Callable[[int, Any], Any]


def descend(optimizer, network: Network, opt_state, objective):
  """One optimizer step on `network.params`, for tasks that train one
  network: objective(params) -> (loss, aux). Returns (network with the new
  params, new optimizer state, loss, aux)."""
  (loss, aux), grads = jax.value_and_grad(objective, has_aux=True)(
      network.params)
  updates, opt_state = optimizer.update(grads, opt_state, network.params)
  params = optax.apply_updates(network.params, updates)
  return network.replace(params=params), opt_state, loss, aux


def grid_work(run: RunContext, every: int, tag: str,
              grid: Callable[[Any], tuple[Any, int]]) -> PeriodicWork:
  """"samples" work: `grid(state)` -> (images, rows) saved as
  samples/step_<N>.png and logged as image `tag`; its result is the path."""
  def sample(step, state):
    images, rows = grid(state)
    path = os.path.join(run.workdir, "samples", f"step_{step}.png")
    if run.is_chief:
      images_lib.save_grid(np.asarray(images), path, rows=rows)
      run.writers.write_image(step, tag, path)
    return path
  return PeriodicWork("samples", every, sample)


def eval_work(run: RunContext, every: int, measure: Callable[[Any], dict],
              describe: Callable[[dict], str]) -> PeriodicWork:
  """"eval" work: the row {"step", **measure(state)}, written to the eval
  log and logged as "step N: describe(row)"; its result is the row."""
  def evaluate(step, state):
    row = {"step": step, **measure(state)}
    if run.is_chief:
      run.writers.write(row, "eval")
    log.info("step %d: %s", step, describe(row))
    return row
  return PeriodicWork("eval", every, evaluate)


def summary_text(step: int, results: dict, describe: Callable[[dict], str],
                 samples: str = "Samples") -> str:
  """"Trained to step N.", then describe(the last eval row) and the last
  sample grid's path when the run made them."""
  text = f"Trained to step {step}."
  if results.get("eval"):
    text += f" {describe(results['eval'])}."
  if results.get("samples"):
    text += f" {samples}: {results['samples']}"
  return text


class Task(abc.ABC):
  """A trainable task; see the module docstring."""

  name: ClassVar[str]
  # The data.resolution values it trains at.
  resolutions: ClassVar[tuple[int, ...]] = config_lib.RESOLUTIONS
  # The task's config module: default_config() and validate(config), light
  # to import (config files start from it); or override the two below.
  config_module: ClassVar[Any] = None

  def __init__(self, config: ml_collections.ConfigDict):
    self.config = config

  @classmethod
  def default_config(cls) -> ml_collections.ConfigDict:
    """Every field a run of this task has, with defaults."""
    return cls.config_module.default_config()

  @classmethod
  def validate(cls, config, num_devices: int) -> None:
    """Raises ConfigError for a value no run can use (the shared fields, then
    the task's own: `validate_own`)."""
    config_lib.validate_shared(config, num_devices, cls.resolutions)
    cls.validate_own(config)

  @classmethod
  def validate_own(cls, config) -> None:
    cls.config_module.validate(config)

  @abc.abstractmethod
  def init_state(self):
    """The initial state, from `train.seed` (traced under jit)."""

  def abstract_state(self, mesh: Mesh):
    return sharding.abstract_of(self.init_state, mesh)

  def create_state(self, mesh: Mesh):
    return sharding.init_replicated(self.init_state, mesh)

  @abc.abstractmethod
  def step_fn(self, mesh: Mesh) -> Callable:
    """The pure, un-jitted step: (state, batch) -> (state, metrics), with
    `batch` as `batch_spec` says: {"image": [*batch_dims, R, R, C],
    "label": [*batch_dims]} and each data stream's images."""

  def batch_dims(self) -> tuple[int, ...]:
    """The leading dims of one step's batch; the last one is the examples,
    split over the devices."""
    return (self.config.train.batch_size,)

  def data_streams(self) -> dict[str, ml_collections.ConfigDict]:
    """Image streams every step reads beside `config.data`, by name: data
    sections (config.data's fields) whose images come as
    batch["<name>_image"]. The pipeline draws them in step with the main
    stream, so the one data-iterator position that checkpoints keep
    resumes them too (cnnjax.data.pipeline). None by default."""
    return {}

  def batch_spec(self) -> dict[str, tuple[tuple[int, ...], str]]:
    """{key: (global shape, dtype)} of one step's batch: what the loop
    compiles the step for and `cnnjax bench` feeds it."""
    dims = self.batch_dims()

    def images(data):
      size = data.resolution
      return (*dims, size, size, data.channels), "float32"

    spec = {"image": images(self.config.data), "label": (dims, "int32")}
    for name, data in self.data_streams().items():
      spec[f"{name}_image"] = images(data)
    return spec

  def batch_sharding(self, mesh: Mesh):
    return sharding.batch_sharding(mesh, len(self.batch_dims()))

  def compile_step(self, mesh: Mesh, abstract):
    """The step jitted with explicit shardings, the state donated, and the
    NONFINITE metric added (a reduction over the new state: the DCGAN step
    measured 245.6-258.8 ms with it and 245.5-260.1 ms without, on 2 CPU
    cores).

    Returns (jitted step, trace counter): the counter is a one-element list
    incremented each time JAX traces the step, so tests can assert it is 1.
    """
    step_fn = self.step_fn(mesh)
    traces = [0]

    def counted(state, batch):
      traces[0] += 1
      state, metrics = step_fn(state, batch)
      finite = all_finite((state, metrics))
      return state, {**metrics, NONFINITE: 1.0 - finite.astype(jnp.float32)}

    state_shardings = sharding.shardings_of(abstract)
    jitted = jax.jit(counted,
                     in_shardings=(state_shardings, self.batch_sharding(mesh)),
                     out_shardings=(state_shardings, sharding.replicated(mesh)),
                     donate_argnums=0,
                     compiler_options=compile_cache.fast_options())
    return jitted, traces

  def periodic(self, run: RunContext) -> list[PeriodicWork]:
    """Work on the state every N steps (built before the first step, so that
    a missing feature network fails fast)."""
    del run
    return []

  @abc.abstractmethod
  def evaluate(self, state, mesh: Mesh, **options) -> dict:
    """The metric row `cnnjax eval` prints for a restored state."""

  def summary(self, step: int, results: dict, workdir: str) -> str:
    """The line `cnnjax train` prints at the end."""
    del results, workdir
    return f"Trained to step {step}."

  def weight_fields(self, state) -> tuple[str, ...]:
    """The state's fields that hold weights, which warm starts may load: its
    networks (a task adds e.g. an EMA of a network's params)."""
    return tuple(networks(state))

  def warm_started(self, state, targets: list[str]):
    """The state after `targets` (paths) were loaded from another run: a
    task may re-derive what depends on them (e.g. an EMA of loaded weights)."""
    del targets
    return state

  def count_params(self, state) -> int:
    """Trainable parameters of every network of the state."""
    return sum(x.size for network in networks(state).values()
               for x in jax.tree.leaves(network.params))

  def digests(self, state) -> dict:
    """sha256 digests `cnnjax inspect` prints: `params_sha256` of every
    network's weights, `state_sha256` of the whole state (weights, buffers,
    optimizer states, step, RNG). Equal digests, equal runs."""
    return {"params_sha256": tree_sha256(
                {name: network.params
                 for name, network in networks(state).items()}),
            "state_sha256": tree_sha256(state)}
