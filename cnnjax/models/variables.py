"""A network's variables as a train state holds them: `Network`.

`nnx.split` cuts a module into its graph definition (static, hashable: what
jitted functions close over) and its variables; a state keeps the variables
of each of its networks as a `Network` of params (what the optimizer
trains) and buffers (everything else: batch statistics, power-iteration
vectors). Networks sit at the same paths in every task's state
("generator", "classifier"), which warm starts and feature networks rely on.
"""

from typing import Any

import flax.struct
from flax import nnx

# Everything a module holds that is not trained by the optimizer: batch
# statistics, power-iteration vectors. Modules update them in train mode.
BUFFERS = nnx.Not(nnx.Param)


@flax.struct.dataclass
class Network:
  """A network's variables in a train state: `nnx.split`'s two states."""
  params: Any
  buffers: Any


def split(module: nnx.Module) -> tuple[nnx.GraphDef, Network]:
  graphdef, params, buffers = nnx.split(module, nnx.Param, BUFFERS)
  return graphdef, Network(params, buffers)


def merge(graphdef: nnx.GraphDef, network: Network, params=None) -> nnx.Module:
  """The module of `network` (with other `params`, e.g. the EMA, if given)."""
  return nnx.merge(graphdef, network.params if params is None else params,
                   network.buffers)
