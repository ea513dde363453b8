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
import sys
from collections.abc import Mapping

import numpy as np

from cnnjax.errors import UserError
from cnnjax.nets import inception, state_dicts

# Shared with the VGG converter (`state_dicts`); kept here by name for the
# callers that convert Inception weights by hand.
write_npz = state_dicts.write_npz


def convert_state_dict(state_dict: Mapping, source: str = "state dict"
                       ) -> dict[str, np.ndarray]:
  """PyTorch state dict (tensors or arrays) -> {key: float32 array}, checked.

  Keys and layouts are kept; `num_batches_tracked` counters (training-only
  bookkeeping) are dropped. Raises UserError naming the wrong keys/shapes.
  """
  arrays = {key: state_dicts.to_numpy(value)
            for key, value in state_dict.items()
            if not key.endswith(inception.IGNORED_KEY_SUFFIXES)}
  inception.check_state_dict(
      {key: array.shape for key, array in arrays.items()}, source)
  return {key: array.astype(np.float32) for key, array in arrays.items()}


def load_torch_state_dict(torch_file: str) -> Mapping:
  """torch.load of pytorch-fid's .pth, on CPU; torch is imported only here."""
  return state_dicts.load_torch_state_dict(
      torch_file, weights="the Inception weights",
      where=f"Download it from {inception.WEIGHTS_URL}")


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
