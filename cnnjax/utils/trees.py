"""Pytrees: digests (what `inspect` prints, what keys cached statistics) and
subtrees by dotted path (what warm starts load)."""

import hashlib
from collections.abc import Mapping

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


def _child(node, key: str):
  return node[key] if isinstance(node, Mapping) else getattr(node, key)


def get_path(tree, path: str):
  """The subtree at a dotted path of dataclass fields and mapping keys,
  e.g. get_path(state, "generator.params"); KeyError when absent."""
  node = tree
  for key in path.split("."):
    try:
      node = _child(node, key)
    except (KeyError, AttributeError, TypeError):
      raise KeyError(path) from None
  return node


def replace_path(tree, path: str, value):
  """A copy of `tree` with the subtree at `path` replaced by `value`
  (dataclasses through their `replace`, mappings through a copy)."""
  key, _, rest = path.partition(".")
  new = replace_path(_child(tree, key), rest, value) if rest else value
  if isinstance(tree, Mapping):
    return type(tree)({**tree, key: new})
  return tree.replace(**{key: new})
