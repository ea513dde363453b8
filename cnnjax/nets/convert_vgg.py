"""Converts torchvision's VGG-19 / VGG-16 weights (.pth) to the .npz cnnjax
reads (`cnnjax.nets.vgg`, feature networks `vgg19` and `vgg16`).

cnnjax does not depend on PyTorch, and never downloads weights: convert them
once, on any machine with torch, and put the file where cnnjax looks,
<data dir>/cnnjax_weights/vgg19.npz (the data dir: $CNNJAX_DATA_DIR, else
$TFDS_DATA_DIR, else ~/tensorflow_datasets), or name it in
$CNNJAX_VGG19_WEIGHTS:

  wget https://download.pytorch.org/models/vgg19-dcbb9e9d.pth
  python -m cnnjax.nets.convert_vgg \\
      --torch_file vgg19-dcbb9e9d.pth --out DATA_DIR/cnnjax_weights/vgg19.npz

(vgg16-397923af.pth and vgg16.npz likewise.) The architecture is read off
the keys unless --arch names it. Every key and shape of torchvision's state
dict, the classifier's included, is checked before anything is written, so
another network (a vgg19_bn, VGG-16 given as --arch vgg19, Inception
weights) is refused with one message and exit code 2. The .npz keeps the
`features.{i}.weight` (OIHW) / `.bias` keys; the classifier (124M of
VGG-19's 144M parameters, unused by style and perceptual losses) is dropped,
so the file is 80 MB instead of 548 MB.
"""

import argparse
import sys
from collections.abc import Mapping

import numpy as np

from cnnjax.errors import UserError
from cnnjax.nets import state_dicts, vgg


def convert_state_dict(state_dict: Mapping, arch: str | None = None,
                       source: str = "state dict") -> dict[str, np.ndarray]:
  """torchvision state dict (tensors or arrays) -> {features key: float32
  array}, checked against `arch` (None: read off the keys)."""
  if arch is not None and arch not in vgg.BLOCKS:
    raise UserError(f"--arch {arch!r}: use one of {', '.join(vgg.BLOCKS)}.")
  arrays = {key: state_dicts.to_numpy(value)
            for key, value in state_dict.items()}
  shapes = {key: array.shape for key, array in arrays.items()}
  arch = arch or vgg.infer_arch(shapes, source)
  vgg.check_state_dict(shapes, arch, source, classifier=True)
  return {key: arrays[key].astype(np.float32)
          for key in vgg.expected_shapes(arch)}


def load_torch_state_dict(torch_file: str) -> Mapping:
  """torch.load of torchvision's .pth, on CPU; torch is imported only here."""
  names = " or ".join(vgg.TORCH_FILES.values())
  return state_dicts.load_torch_state_dict(
      torch_file, weights="the VGG weights",
      where=f"Download torchvision's {names} from {vgg.TORCH_URL}")


def convert(torch_file: str, out: str, arch: str | None = None) -> str:
  """The whole command: .pth -> checked arrays -> .npz at `out`; the arch."""
  arrays = convert_state_dict(load_torch_state_dict(torch_file), arch,
                              torch_file)
  state_dicts.write_npz(arrays, out)
  return vgg.infer_arch({key: a.shape for key, a in arrays.items()}, out)


def main(argv: list[str] | None = None) -> int:
  parser = argparse.ArgumentParser(
      prog="python -m cnnjax.nets.convert_vgg",
      description=__doc__,
      formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument("--torch_file", required=True,
                      help="torchvision's vgg19-dcbb9e9d.pth or "
                           "vgg16-397923af.pth")
  parser.add_argument("--out", required=True, help="the .npz to write")
  parser.add_argument("--arch", choices=sorted(vgg.BLOCKS),
                      help="the architecture (default: read off the keys)")
  args = parser.parse_args(argv)
  try:
    arch = convert(args.torch_file, args.out, args.arch)
  except UserError as e:
    print(f"Error: {e}", file=sys.stderr)
    return e.exit_code
  print(f"Wrote {args.out} ({arch})")
  return 0


if __name__ == "__main__":
  sys.exit(main())
