"""The local backend: runs a sweep's runs as `cnnjax train` subprocesses on
this machine, one after another or N at once, each with a share of the
devices (GPUs by CUDA_VISIBLE_DEVICES; on CPU, a share of the fake CPU
devices that XLA_FLAGS asks for).

A run's process gets SIGTERM when the launcher dies (even by kill -9), so
no run trains on orphaned; SIGTERM or Ctrl-C to the launcher is passed on,
every run saves a checkpoint and stops, and the same command resumes them.
"""

import ctypes
import logging
import os
import re
import signal
import subprocess
import sys
import time

from cnnjax.errors import UserError
from cnnjax.launch import status as status_lib
from cnnjax.launch.spec import Run, Sweep

log = logging.getLogger(__name__)

CPU_DEVICES = re.compile(r"--xla_force_host_platform_device_count=(\d+)")
_PR_SET_PDEATHSIG = 1


def device_shares(parallel: int, environ=None) -> list[dict[str, str]]:
  """The environment changes of each of `parallel` slots."""
  environ = os.environ if environ is None else environ
  gpus = _gpus(environ)
  if gpus:
    per = len(gpus) // parallel
    if per == 0:
      raise UserError(f"--parallel={parallel} runs need at least one GPU "
                      f"each; {len(gpus)} are visible.")
    return [{"CUDA_VISIBLE_DEVICES": ",".join(gpus[i * per:(i + 1) * per])}
            for i in range(parallel)]
  flags = environ.get("XLA_FLAGS", "")
  found = CPU_DEVICES.search(flags)
  per = max(1, (int(found.group(1)) if found else 1) // parallel)
  share = f"--xla_force_host_platform_device_count={per}"
  flags = CPU_DEVICES.sub(share, flags) if found else f"{flags} {share}"
  return [{"XLA_FLAGS": flags.strip()} for _ in range(parallel)]


def _gpus(environ) -> list[str]:
  visible = environ.get("CUDA_VISIBLE_DEVICES")
  if visible is not None:
    return [g for g in visible.split(",") if g.strip()]
  try:
    listed = subprocess.run(["nvidia-smi", "-L"], capture_output=True,
                            text=True, timeout=30).stdout
  except (OSError, subprocess.SubprocessError):
    return []
  return [str(i) for i, line in enumerate(listed.splitlines())
          if line.startswith("GPU ")]


def _die_with_parent() -> None:
  """In the child, before exec: SIGTERM when the launcher ends."""
  try:
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
  except OSError:  # not Linux: runs outlive a killed launcher
    pass


def launch(sweep: Sweep, root: str, runs: list[Run], parallel: int) -> dict:
  """Runs `runs`, at most `parallel` at once; returns {run name: exit code}."""
  shares = device_shares(parallel)
  waiting = list(runs)
  active = {}  # slot -> (run, process, log file)
  codes = {}
  stop = []

  def on_signal(signum, frame):
    del frame
    stop.append(signum)
    for _, process, _ in active.values():
      process.send_signal(signal.SIGTERM)

  previous = {s: signal.signal(s, on_signal)
              for s in (signal.SIGTERM, signal.SIGINT)}
  try:
    while waiting or active:
      for slot in range(parallel):
        if slot not in active and waiting and not stop:
          run = waiting.pop(0)
          active[slot] = _start(sweep, root, run, shares[slot])
      time.sleep(0.2)
      for slot, (run, process, output) in list(active.items()):
        if process.poll() is not None:
          output.close()
          codes[run.name] = process.returncode
          status_lib.record_launch(root, sweep, run, process.returncode)
          log.info("run %s ended (exit code %d)", run.name,
                   process.returncode)
          del active[slot]
      if stop and not active:
        break
  finally:
    for signum, handler in previous.items():
      signal.signal(signum, handler)
  if stop:
    print(f"cnnjax: sweep stopped by {signal.Signals(stop[0]).name}; its "
          "runs saved checkpoints. Run the same command to go on.",
          file=sys.stderr, flush=True)
    os._exit(128 + stop[0])
  return codes


def _start(sweep: Sweep, root: str, run: Run, share: dict):
  log_file = status_lib.log_path(root, sweep, run, ".log")
  os.makedirs(os.path.dirname(log_file), exist_ok=True)
  output = open(log_file, "a")
  argv = sweep.train_argv(run, root)
  output.write(f"$ {' '.join(argv)}\n")
  output.flush()
  log.info("run %s: starting (%s)", run.name,
           ", ".join(f"{k}={v}" for k, v in share.items()))
  process = subprocess.Popen(
      argv, stdout=output, stderr=subprocess.STDOUT,
      env={**os.environ, **share}, preexec_fn=_die_with_parent)
  return run, process, output
