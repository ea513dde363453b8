"""Pytrees: digests (what `inspect` prints, what keys cached statistics) and
subtrees by dotted path (what warm starts load)."""

import dataclasses
import hashlib
from collections.abc import Mapping

import jax
import jax.numpy as jnp
import numpy as np


def path_name(path) -> str:
  """A key path as "a/b/c", the same for a dataclass field, a mapping key
  or an NNX variable's value (so a tree and the nested dicts orbax
  restores it as have the same names)."""
  def name(entry):
    for attribute in ("key", "name", "idx"):
      if hasattr(entry, attribute):
        return str(getattr(entry, attribute))
    return str(entry)
  return "/".join(name(entry) for entry in path)


def _host_value(leaf) -> np.ndarray:
  """A leaf's value on this host: a replicated array spanning several
  processes is read from this process's copy."""
  if isinstance(leaf, jax.Array) and not leaf.is_fully_addressable:
    if not leaf.sharding.is_fully_replicated:
      raise ValueError("tree_sha256 needs replicated or local arrays")
    leaf = leaf.addressable_data(0)
  return np.ascontiguousarray(jax.device_get(leaf))


def tree_sha256(tree) -> str:
  """A digest of a pytree's leaf names (`path_name`), dtypes, shapes and
  exact bytes."""
  digest = hashlib.sha256()
  leaves = jax.tree_util.tree_flatten_with_path(tree)[0]
  named = [(path_name(path), leaf) for path, leaf in leaves]
  for name, leaf in sorted(named, key=lambda item: item[0]):
    value = _host_value(leaf)
    digest.update(name.encode())
    digest.update(f"{value.dtype}{value.shape}".encode())
    digest.update(value.tobytes())
  return digest.hexdigest()


def all_finite(tree):
  """Whether every floating-point leaf of `tree` is finite: a traced bool,
  for use inside a compiled step."""
  checks = [jnp.all(jnp.isfinite(leaf)) for leaf in jax.tree.leaves(tree)
            if jnp.issubdtype(jnp.result_type(leaf), jnp.inexact)]
  return jnp.all(jnp.stack(checks)) if checks else jnp.asarray(True)


def children(tree) -> dict:
  """The top-level subtrees of a dataclass or mapping, by name."""
  if isinstance(tree, Mapping):
    return dict(tree)
  return {field.name: getattr(tree, field.name)
          for field in dataclasses.fields(tree)}


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
