"""Digests of pytrees: what `inspect` prints and what keys cached statistics."""

import hashlib

import jax
import numpy as np


def tree_sha256(tree) -> str:
  """A digest of a pytree's structure, dtypes, shapes and exact bytes."""
  digest = hashlib.sha256()
  leaves = jax.tree_util.tree_flatten_with_path(tree)[0]
  for path, leaf in sorted(leaves, key=lambda item: jax.tree_util.keystr(item[0])):
    value = np.ascontiguousarray(jax.device_get(leaf))
    digest.update(jax.tree_util.keystr(path).encode())
    digest.update(f"{value.dtype}{value.shape}".encode())
    digest.update(value.tobytes())
  return digest.hexdigest()
