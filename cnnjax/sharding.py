"""The device mesh and how arrays are laid out on it.

Every cnnjax program is data-parallel over a 1-D mesh: states are
replicated, batches are split along their example axis. States are built
shape-first: `abstract_of` gives their shapes, dtypes and shardings without
computing anything, and `init_replicated` computes them with one jitted call
straight into those shardings, so a large model never materialises on one
device first.
"""

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from cnnjax.utils import compile_cache

DATA_AXIS = "data"


def make_mesh(devices=None) -> Mesh:
  """A 1-D data-parallel mesh over `devices` (default: every device)."""
  devices = list(devices if devices is not None else jax.devices())
  return jax.make_mesh((len(devices),), (DATA_AXIS,), devices=devices,
                       axis_types=(jax.sharding.AxisType.Auto,))


def replicated(mesh: Mesh) -> NamedSharding:
  return NamedSharding(mesh, PartitionSpec())


def batch_sharding(mesh: Mesh, rank: int = 1) -> NamedSharding:
  """Arrays whose last of `rank` leading axes is the example axis: that axis
  is split over the devices, the ones before it (e.g. a GAN step's critic
  updates) are not."""
  return NamedSharding(mesh, PartitionSpec(*[None] * (rank - 1), DATA_AXIS))


def abstract_of(init_fn, mesh: Mesh):
  """Shapes, dtypes and (replicated) shardings of `init_fn()`'s result, with
  no compute: the first half of shape-first initialisation."""
  sharding = replicated(mesh)
  return jax.tree.map(
      lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=sharding),
      jax.eval_shape(init_fn))


def shardings_of(abstract):
  """The tree of shardings of an abstract (or concrete) state."""
  return jax.tree.map(lambda x: x.sharding, abstract)


def init_replicated(init_fn, mesh: Mesh):
  """`init_fn()` computed by one jitted call straight into its shardings."""
  return jax.jit(init_fn,
                 out_shardings=shardings_of(abstract_of(init_fn, mesh)),
                 compiler_options=compile_cache.fast_options())()


def to_host(array: jax.Array) -> np.ndarray:
  """A replicated global array as numpy, on every process."""
  return np.asarray(array.addressable_data(0))
