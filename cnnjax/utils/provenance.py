"""What produced a run, so it can be reproduced months later: every launch
of `cnnjax train` appends one JSON line to DIR/provenance.jsonl.

A record holds the time, the command line, the code version (the git
commit of the cnnjax checkout, whether its tracked files differed from it,
and then the diff, kept as DIR/provenance/<n>.diff), the versions of Python
and of the libraries that decide the numbers, the devices (kind and count),
the processes and this host's name. `cnnjax compare` flags runs whose code
or versions differ.
"""

import datetime
import json
import os
import platform
import socket
import subprocess
import sys
from importlib import metadata

from cnnjax.utils import files

FILE = "provenance.jsonl"
DIFFS = "provenance"
PACKAGES = ("cnnjax", "jax", "jaxlib", "flax", "optax", "orbax-checkpoint",
            "grain", "tensorflow-datasets", "numpy", "ml-collections")


def versions() -> dict:
  found = {"python": platform.python_version()}
  for package in PACKAGES:
    try:
      found[package] = metadata.version(package)
    except metadata.PackageNotFoundError:
      found[package] = None
  return found


def code_version() -> tuple[dict, str]:
  """({commit, dirty}, the diff against the commit or ""), of the git
  checkout cnnjax runs from; {commit: None} when it is not one."""
  root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
  root = os.path.dirname(root)

  def git(*args) -> str:
    return subprocess.run(["git", "-C", root, *args], capture_output=True,
                          text=True, timeout=60, check=True).stdout

  try:
    if os.path.realpath(git("rev-parse", "--show-toplevel").strip()) != (
        os.path.realpath(root)):  # an installed copy inside another repo
      return {"commit": None, "dirty": None}, ""
    commit = git("rev-parse", "HEAD").strip()
    diff = git("diff", "HEAD", "--", ".")
  except (OSError, subprocess.SubprocessError):
    return {"commit": None, "dirty": None}, ""
  return {"commit": commit, "dirty": bool(diff)}, diff


def append(workdir: str, devices) -> dict:
  """Appends this launch's record to `workdir`'s provenance.jsonl (and its
  diff, if the code was not a clean commit); returns the record."""
  import jax
  path = os.path.join(workdir, FILE)
  count = 0
  if os.path.exists(path):
    with open(path) as f:
      count = sum(1 for line in f if line.strip())
  code, diff = code_version()
  if diff:
    code["diff"] = os.path.join(DIFFS, f"{count}.diff")
    with files.atomic_write(os.path.join(workdir, code["diff"])) as f:
      f.write(diff)
  kinds = {}
  for device in devices:
    kinds[device.device_kind] = kinds.get(device.device_kind, 0) + 1
  record = {
      "time": datetime.datetime.now(datetime.timezone.utc).isoformat(),
      "argv": sys.argv, "cwd": os.getcwd(), "code": code,
      "versions": versions(), "devices": kinds,
      "process_count": jax.process_count(), "host": socket.gethostname(),
  }
  with open(path, "a") as f:
    f.write(json.dumps(record, sort_keys=True) + "\n")
  return record


def read(workdir: str) -> list[dict]:
  return files.read_jsonl(os.path.join(workdir, FILE))
