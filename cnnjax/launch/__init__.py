"""Sweeps: many runs from one sweep file, launched here or on SLURM.

  spec.py    sweep files: get_sweep(arg), run names, product and zipped
  sweep.py   `cnnjax sweep`: check, skip finished runs, launch the rest
  status.py  each run's state (pending, running, finished, failed)
  local.py   subprocesses on this machine, each with a share of the devices
  slurm.py   a submitit job array, requeued on preemption

A sweep file uses the helpers as `from cnnjax.launch import product, zipped`.
"""

from cnnjax.launch.spec import product, zipped

__all__ = ["product", "zipped"]
