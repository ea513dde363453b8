"""The data iterator's position in a checkpoint, with a checksum.

Grain's own orbax handler writes each process's iterator state as JSON
(`process_<i>-of-<n>.json`); a flipped byte there may still parse and put
training on other batches without a word. This handler writes the same
state with the sha256 of its canonical JSON beside it, and refuses a file
whose state does not match it.
"""

import dataclasses
import hashlib
import json
from typing import Any

import jax
import orbax.checkpoint as ocp
from etils import epath


def _sha256(state) -> str:
  return hashlib.sha256(json.dumps(state, sort_keys=True).encode()).hexdigest()


class CorruptIteratorState(ValueError):
  """The iterator state does not match its checksum."""


def read_state(filename) -> Any:
  """A process's iterator state from its file, checked against its sha256."""
  filename = epath.Path(filename)
  if not filename.exists():
    raise ValueError(f"{filename} does not exist.")
  try:
    stored = json.loads(filename.read_text())
  except (json.JSONDecodeError, UnicodeDecodeError) as error:
    raise CorruptIteratorState(f"{filename} is not JSON ({error}).") from None
  if not isinstance(stored, dict) or "sha256" not in stored:
    raise CorruptIteratorState(f"{filename} holds no checksummed state.")
  if _sha256(stored.get("state")) != stored["sha256"]:
    raise CorruptIteratorState(
        f"{filename}: the iterator state does not match its checksum.")
  return stored["state"]


def verify_directory(directory: str) -> None:
  """Checks every process's iterator state in a checkpoint's `data` item
  (what `cnnjax inspect` does, with no iterator to restore into)."""
  for filename in sorted(epath.Path(directory).glob("process_*.json")):
    read_state(filename)


class VerifiedIteratorHandler:
  """Orbax CheckpointHandler for grain DatasetIterators, with a checksum."""

  def _filename(self, directory: epath.Path) -> epath.Path:
    return directory / (f"process_{jax.process_index()}-of-"
                        f"{jax.process_count()}.json")

  def save(self, directory: epath.Path, item: Any = None, args: Any = None):
    state = (item or args.item).get_state()
    self._filename(directory).write_text(json.dumps(
        {"state": state, "sha256": _sha256(state)}, indent=1))

  def restore(self, directory: epath.Path, item: Any = None,
              args: Any = None):
    item = item or args.item
    item.set_state(read_state(self._filename(directory)))
    item.start_prefetch()
    return item

  # Required by the interface.
  def structure(self, directory):
    del directory

  def metadata(self, directory):
    del directory

  def finalize(self, directory):
    del directory

  def close(self):
    pass

  @classmethod
  def typestr(cls):
    return f"{cls.__module__}.{cls.__qualname__}"


@ocp.args.register_with_handler(VerifiedIteratorHandler, for_save=True)
@dataclasses.dataclass
class IteratorSave(ocp.args.CheckpointArgs):
  item: Any


@ocp.args.register_with_handler(VerifiedIteratorHandler, for_restore=True)
@dataclasses.dataclass
class IteratorRestore(ocp.args.CheckpointArgs):
  item: Any
