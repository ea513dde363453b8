"""Starting JAX's multi-process runtime for `--multihost`."""

import os

import jax

from cnnjax.errors import UserError

_ENVIRONMENT = (("JAX_COORDINATOR_ADDRESS", "coordinator_address", str),
                ("JAX_NUM_PROCESSES", "num_processes", int),
                ("JAX_PROCESS_ID", "process_id", int))


def initialize() -> None:
  """jax.distributed.initialize(), from the environment when it says how.

  JAX_COORDINATOR_ADDRESS (host:port of process 0), JAX_NUM_PROCESSES and
  JAX_PROCESS_ID configure a cluster by hand; without them JAX detects
  SLURM, Open MPI and cloud TPU clusters itself.
  """
  kwargs = {}
  for variable, argument, kind in _ENVIRONMENT:
    if os.environ.get(variable):
      try:
        kwargs[argument] = kind(os.environ[variable])
      except ValueError:
        raise UserError(f"{variable}={os.environ[variable]!r} is not a "
                        f"valid {argument}.") from None
  try:
    jax.distributed.initialize(**kwargs)
  except (ValueError, RuntimeError) as error:
    raise UserError(
        f"--multihost could not start JAX's distributed runtime ({error}). "
        "Run one process per host under SLURM or Open MPI, or set "
        "JAX_COORDINATOR_ADDRESS, JAX_NUM_PROCESSES and JAX_PROCESS_ID.") from None
