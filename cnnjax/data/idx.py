"""Reading and writing IDX files, the format of the original (Fashion-)MNIST.

An IDX file is a 4-byte magic number (two zero bytes, a type code, the number
of dimensions), one big-endian uint32 per dimension, then the data in C order.
Files may be gzipped; we look at the first bytes rather than the file name,
since mirrors do not agree on the suffix.
"""

import gzip
import os
import struct
import zlib

import numpy as np

from cnnjax.errors import DataError

_UBYTE = 0x08
_GZIP_MAGIC = b"\x1f\x8b"


def read_idx(path: str, *, expected_ndim: int | None = None) -> np.ndarray:
  """Returns the uint8 array stored in the IDX file at `path`.

  Raises DataError naming the file if it is missing, truncated, corrupt or
  not an unsigned-byte IDX array of `expected_ndim` dimensions.
  """
  raw = _read_bytes(path)
  if len(raw) < 4:
    raise DataError(f"{path}: not an IDX file (only {len(raw)} bytes).")
  zero, dtype_code, ndim = struct.unpack(">HBB", raw[:4])
  if zero != 0 or dtype_code != _UBYTE:
    raise DataError(
        f"{path}: not an unsigned-byte IDX file (magic number "
        f"0x{raw[:4].hex()}); the file is corrupt or of another kind."
    )
  if expected_ndim is not None and ndim != expected_ndim:
    raise DataError(
        f"{path}: expected an IDX array of {expected_ndim} dimensions, the "
        f"magic number says {ndim} (images are idx3, labels idx1)."
    )
  header_size = 4 + 4 * ndim
  if len(raw) < header_size:
    raise DataError(f"{path}: truncated IDX header.")
  shape = struct.unpack(f">{ndim}I", raw[4:header_size])
  expected = int(np.prod(shape, dtype=np.int64))
  actual = len(raw) - header_size
  if actual != expected:
    raise DataError(
        f"{path}: the header announces shape {shape} ({expected} bytes) but "
        f"the file holds {actual} bytes of data; it is truncated or corrupt."
    )
  return np.frombuffer(raw, dtype=np.uint8, offset=header_size).reshape(shape)


def write_idx(path: str, array: np.ndarray, *, compress: bool) -> None:
  """Writes a uint8 array as an IDX file (gzipped if `compress`); for tests."""
  array = np.ascontiguousarray(array, dtype=np.uint8)
  header = struct.pack(">HBB", 0, _UBYTE, array.ndim)
  header += struct.pack(f">{array.ndim}I", *array.shape)
  opener = gzip.open if compress else open
  with opener(path, "wb") as f:
    f.write(header + array.tobytes())


def _read_bytes(path: str) -> bytes:
  """Reads a file, decompressing it if it starts with the gzip magic."""
  try:
    with open(path, "rb") as f:
      raw = f.read()
  except OSError as e:
    raise DataError(f"{path}: cannot read ({e.strerror or e}).") from e
  if not raw.startswith(_GZIP_MAGIC):
    return raw
  try:
    return gzip.decompress(raw)
  except (OSError, EOFError, zlib.error) as e:
    raise DataError(
        f"{path}: the gzip stream is truncated or corrupt ({e}); replace "
        f"the file (size on disk: {os.path.getsize(path)} bytes)."
    ) from e
