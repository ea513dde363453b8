"""Converts pytorch-fid's Inception weights (.pth) to the .npz cnnjax reads.

FID comparable with published numbers needs the weights of TF's 2015-12-05
Inception graph, which pytorch-fid ships as a PyTorch state dict. cnnjax does
not depend on PyTorch, so convert them once, on any machine with torch:

  wget https://github.com/mseitzer/pytorch-fid/releases/download/\
fid_weights/pt_inception-2015-12-05-6726825d.pth
  python -m cnnjax.nets.convert_inception \\
      --torch_file pt_inception-2015-12-05-6726825d.pth --out inception_fid.npz

The .npz keeps the state-dict key names (`Conv2d_1a_3x3.conv.weight`, ...,
`fc.bias`) and PyTorch's layouts (OIHW kernels, [out, in] fc weight);
`cnnjax.nets.inception.load_inception_weights` transposes them to NHWC on
load. Every key and shape is checked before anything is written, so
torchvision's ImageNet Inception (1000 classes, aux logits, different pooling)
is refused rather than silently giving other FIDs. Exit code 2 on any error
the user can fix (no torch, missing or wrong file).
"""

import argparse
import os
import sys
from collections.abc import Mapping

import numpy as np

from cnnjax.errors import UserError
from cnnjax.utils import files
from cnnjax.nets import inception


def _to_numpy(value) -> np.ndarray:
  if hasattr(value, "detach"):  # a torch.Tensor, without importing torch
    value = value.detach().cpu().numpy()
  return np.asarray(value)


def convert_state_dict(state_dict: Mapping, source: str = "state dict"
                       ) -> dict[str, np.ndarray]:
  """PyTorch state dict (tensors or arrays) -> {key: float32 array}, checked.

  Keys and layouts are kept; `num_batches_tracked` counters (training-only
  bookkeeping) are dropped. Raises UserError naming the wrong keys/shapes.
  """
  arrays = {key: _to_numpy(value) for key, value in state_dict.items()
            if not key.endswith(inception.IGNORED_KEY_SUFFIXES)}
  inception.check_state_dict(
      {key: array.shape for key, array in arrays.items()}, source)
  return {key: array.astype(np.float32) for key, array in arrays.items()}


def write_npz(arrays: Mapping[str, np.ndarray], out: str) -> None:
  """Writes the arrays to `out` atomically (a temporary file, then rename)."""
  with files.atomic_write(out, "wb") as f:  # a file object: no ".npz" added
    np.savez(f, **arrays)


def load_torch_state_dict(torch_file: str) -> Mapping:
  """torch.load of a .pth state dict, on CPU; torch is imported only here."""
  try:
    import torch  # pylint: disable=import-outside-toplevel
  except ImportError as e:
    raise UserError(
        "Converting the Inception weights needs PyTorch, which cnnjax does "
        "not depend on: `pip install torch` (the CPU build is enough), or "
        "convert on another machine and copy the .npz.") from e
  if not os.path.isfile(torch_file):
    raise UserError(f"No such file: {torch_file}. Download it from "
                    f"{inception.WEIGHTS_URL}")
  try:
    state_dict = torch.load(torch_file, map_location="cpu", weights_only=True)
  except Exception as e:  # torch raises many types for a bad file
    raise UserError(f"Cannot read {torch_file} with torch.load "
                    f"({type(e).__name__}: {e}).") from e
  if not isinstance(state_dict, Mapping):
    raise UserError(f"{torch_file} holds a {type(state_dict).__name__}, not "
                    "a state dict.")
  return state_dict


def convert(torch_file: str, out: str) -> None:
  """The whole command: .pth -> checked arrays -> .npz at `out`."""
  arrays = convert_state_dict(load_torch_state_dict(torch_file), torch_file)
  write_npz(arrays, out)


def main(argv: list[str] | None = None) -> int:
  parser = argparse.ArgumentParser(
      prog="python -m cnnjax.nets.convert_inception",
      description=__doc__,
      formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument("--torch_file", required=True,
                      help="pytorch-fid's pt_inception-2015-12-05-*.pth")
  parser.add_argument("--out", required=True, help="the .npz to write")
  args = parser.parse_args(argv)
  try:
    convert(args.torch_file, args.out)
  except UserError as e:
    print(f"Error: {e}", file=sys.stderr)
    return e.exit_code
  print(f"Wrote {args.out}")
  return 0


if __name__ == "__main__":
  sys.exit(main())
