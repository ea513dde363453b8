"""PyTorch state dicts and the .npz files converted from them: the parts the
weight converters (`convert_inception`, `convert_vgg`) and their loaders
share.

A converted file keeps the state dict's key names and PyTorch's layouts, so a
key names the same tensor in both worlds; each network's loader transposes
to its own layouts. PyTorch is imported only to read a .pth, never by
cnnjax otherwise.
"""

import hashlib
import os
import zipfile
from collections.abc import Mapping

import numpy as np

from cnnjax.errors import UserError
from cnnjax.utils import files

# Buffers PyTorch may save that inference does not need (batch norm's
# training-step counter).
IGNORED_KEY_SUFFIXES = (".num_batches_tracked",)


def to_numpy(value) -> np.ndarray:
  """A torch.Tensor (without importing torch) or array-like as an array."""
  if hasattr(value, "detach"):
    value = value.detach().cpu().numpy()
  return np.asarray(value)


def problems(shapes: Mapping[str, tuple[int, ...]],
             expected: Mapping[str, tuple[int, ...]],
             max_listed: int = 5) -> list[str]:
  """Missing, unexpected and wrong-shaped keys, one phrase per kind ([] when
  the state dict is as expected); `num_batches_tracked` keys are ignored."""
  keys = {key for key in shapes if not key.endswith(IGNORED_KEY_SUFFIXES)}
  missing = sorted(set(expected) - keys)
  unexpected = sorted(keys - set(expected))
  wrong = sorted(f"{key}: {tuple(shapes[key])}, expected {expected[key]}"
                 for key in keys & set(expected)
                 if tuple(shapes[key]) != tuple(expected[key]))
  found = []
  for label, items in (("missing keys", missing),
                       ("unexpected keys", unexpected),
                       ("wrong shapes", wrong)):
    if items:
      more = f", ... ({len(items)} in all)" if len(items) > max_listed else ""
      found.append(f"{label}: {', '.join(items[:max_listed])}{more}")
  return found


def write_npz(arrays: Mapping[str, np.ndarray], out: str) -> None:
  """Writes the arrays to `out` atomically (a temporary file, then rename)."""
  with files.atomic_write(out, "wb") as f:  # a file object: no ".npz" added
    np.savez(f, **arrays)


def load_torch_state_dict(torch_file: str, *, weights: str,
                          where: str) -> Mapping:
  """torch.load of a .pth state dict, on CPU; torch is imported only here.

  `weights` names them in messages ("the Inception weights"); `where` says
  where to get the file when it is missing.
  """
  try:
    import torch  # pylint: disable=import-outside-toplevel
  except ImportError as e:
    raise UserError(
        f"Converting {weights} needs PyTorch, which cnnjax does not depend "
        "on: `pip install torch` (the CPU build is enough), or convert on "
        "another machine and copy the .npz.") from e
  if not os.path.isfile(torch_file):
    raise UserError(f"No such file: {torch_file}. {where}")
  try:
    state_dict = torch.load(torch_file, map_location="cpu", weights_only=True)
  except Exception as e:  # torch raises many types for a bad file
    raise UserError(f"Cannot read {torch_file} with torch.load "
                    f"({type(e).__name__}: {e}).") from e
  if not isinstance(state_dict, Mapping):
    raise UserError(f"{torch_file} holds a {type(state_dict).__name__}, not "
                    "a state dict.")
  return state_dict


def read_npz(path: str, *, missing_message: str, weights: str,
             converter: str) -> dict[str, np.ndarray]:
  """{key: array} of a converted .npz file; UserError (`missing_message`, or
  how to convert again with `python -m <converter>`) when it cannot be read.
  """
  if not os.path.isfile(path):
    raise UserError(missing_message)
  try:
    data = np.load(path, allow_pickle=False)
    if not isinstance(data, np.lib.npyio.NpzFile):
      raise ValueError("a single .npy array, not an .npz archive of weights")
    with data:
      return {key: data[key] for key in data.files}
  except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile) as e:
    raise UserError(f"Cannot read {weights} {path} as an .npz file "
                    f"({type(e).__name__}: {e}); convert the PyTorch weights "
                    f"again with `python -m {converter}`.") from e


def finite_float32(array: np.ndarray, path: str, key: str) -> np.ndarray:
  """`array` as float32; UserError when it holds non-floats or NaN/Inf (a
  damaged file would otherwise give NaN features far from the cause)."""
  if not (np.issubdtype(array.dtype, np.floating) and
          np.all(np.isfinite(array))):
    raise UserError(f"{path}: {key} must be finite floats, got "
                    f"{array.dtype} with non-finite or non-float values.")
  return array.astype(np.float32)


def file_sha256(path: str) -> str:
  """The hex sha256 of a file: a converted network's digest."""
  digest = hashlib.sha256()
  with open(path, "rb") as f:
    for chunk in iter(lambda: f.read(1 << 20), b""):
      digest.update(chunk)
  return digest.hexdigest()
