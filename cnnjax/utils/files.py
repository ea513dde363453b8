"""Writing files so that a reader sees the old file or the new one, never a
torn mix: write a temporary file beside the target, then rename it over.
(A rename within one directory is atomic on POSIX file systems; `kill -9`
between the two leaves only a stray temporary file.)"""

import contextlib
import json
import os


@contextlib.contextmanager
def atomic_write(path: str, mode: str = "w"):
  """`with atomic_write(path) as f:` writes `f` to `path` on success only.

  The temporary name is unique per process, so several processes writing
  the same cache file do not collide; on an error it is removed.
  """
  os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
  temporary = f"{path}.tmp-{os.getpid()}"
  try:
    with open(temporary, mode) as f:
      yield f
    os.replace(temporary, path)
  finally:
    if os.path.exists(temporary):
      os.remove(temporary)


def write_json_atomically(path: str, value, **dump_options) -> None:
  with atomic_write(path) as f:
    json.dump(value, f, **dump_options)
    f.write("\n")


def read_jsonl(path: str) -> list:
  """The JSON values of a .jsonl file, one per line; a line that does not
  parse (torn by kill -9 mid-write) is skipped. [] when there is no file."""
  if not os.path.exists(path):
    return []
  values = []
  with open(path, errors="replace") as f:
    for line in f:
      try:
        values.append(json.loads(line))
      except json.JSONDecodeError:
        continue
  return values
