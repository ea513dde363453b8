"""Stopping cleanly when the cluster says so.

SIGTERM and SIGINT set a flag instead of killing the process; the train loop
checks it at every step boundary, saves a checkpoint, waits for the write to
finish and exits 0. A second signal while saving is ignored so a hurried
scheduler cannot tear the checkpoint. With several processes, JAX's
coordination service decides the common step at which everyone stops.
"""

import signal

import jax
from jax.experimental import multihost_utils


class PreemptionGuard:
  """Context manager that turns SIGTERM/SIGINT into a `should_stop` flag."""

  SIGNALS = (signal.SIGTERM, signal.SIGINT)

  def __init__(self):
    self.requested = None
    self._previous = {}

  def __enter__(self):
    if jax.process_count() > 1:
      return self  # jax.distributed's preemption service owns SIGTERM there
    for sig in self.SIGNALS:
      self._previous[sig] = signal.signal(sig, self._handle)
    return self

  def __exit__(self, *exc):
    for sig, handler in self._previous.items():
      signal.signal(sig, handler)

  def _handle(self, signum, frame):
    del frame
    if self.requested is None:
      self.requested = signal.Signals(signum).name

  def should_stop(self, step: int) -> bool:
    if jax.process_count() > 1:
      # Every process gets the same answer for the same step, so all stop
      # together (a local flag alone could leave the others waiting).
      return multihost_utils.reached_preemption_sync_point(step)
    return self.requested is not None
