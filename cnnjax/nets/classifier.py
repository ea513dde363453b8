"""cnnjax's own classifier (a `configs/classifier.py` run) as a feature
network: its named layers (`cnnjax.models.classifier.LAYERS`), the dense
layer's "features" for FID and friends, "logits" for the Inception Score and
class accuracy.

Images reach it as its own training data did: the same size and channels
(the usual case) pass unchanged. Another size is brought to its resolution
as its `data.resize_method` would ("auto" zero-pads a gap of a few pixels,
as Fashion-MNIST's 28 -> 32, and otherwise resizes bilinearly, with
antialiasing when shrinking). 1 -> 3 channels repeats the gray channel;
3 -> 1 takes the ITU-R 601 luma (0.299 R + 0.587 G + 0.114 B).

Its weights come from a run's workdir (config.json, and the `classifier`
subtree of its newest checkpoint; its task is not imported: this layer sits
below the tasks) or from a classifier file (`cnnjax.nets.shipped`), as the
reference classifiers cnnjax ships for Fashion-MNIST and digits are.
"""

import dataclasses
import hashlib
import json
import logging
import os
from typing import Any

import jax
import jax.numpy as jnp
import ml_collections
from flax import nnx

from cnnjax import models, sharding
from cnnjax import workdir as workdir_lib
from cnnjax.data import transforms
from cnnjax.errors import UserError
from cnnjax.models import variables
from cnnjax.models.classifier import LAYERS
from cnnjax.nets import shipped
from cnnjax.nets.base import FeatureNet, safe_name
from cnnjax.utils.trees import path_name, tree_sha256

CLASSIFIERS_DIR = "cnnjax_classifiers"
log = logging.getLogger(__name__)


def default_path(dataset: str, data_dir: str) -> str:
  """The reference classifier cnnjax ships for `dataset`, else a run at
  <data dir>/cnnjax_classifiers/<dataset>. Where both exist, the shipped
  one is used (the same network on every machine) and the log says so."""
  own = os.path.join(data_dir, CLASSIFIERS_DIR, safe_name(dataset))
  reference = shipped.shipped_path(dataset)
  if reference and os.path.exists(os.path.join(own, workdir_lib.CONFIG_FILE)):
    log.warning("Feature network 'classifier' is cnnjax's reference "
                "classifier %s; the one trained at %s is not used (pass "
                "--extractor classifier:%s to use it).", reference, own, own)
  return reference or own


@dataclasses.dataclass(frozen=True)
class Trained:
  """A trained classifier as read from a workdir or a classifier file."""
  values: dict  # its run's config.json
  step: int
  weights: Any  # the `classifier` subtree: a variables.Network
  graphdef: Any
  digest: str  # sha256 of the architecture and weights


def read(path: str, name: str | None = None, mesh=None,
         dataset: str = "<dataset>") -> Trained:
  """The classifier in `path`: a `configs/classifier.py` run's workdir (its
  newest checkpoint) or a classifier file (`cnnjax.nets.shipped`),
  replicated over `mesh`'s devices (default: all)."""
  name = name or f"classifier:{path}"
  if os.path.isfile(path):
    values, arrays = shipped.read(path)
    step = values.pop("step")
    values.pop("test_accuracy", None)
  elif not os.path.exists(os.path.join(path, workdir_lib.CONFIG_FILE)):
    raise UserError(
        f"No trained classifier at {path} (feature network {name}). cnnjax "
        "ships reference classifiers for fashion_mnist and digits only; "
        "train one on the run's dataset once (Fashion-MNIST: about 15-25 "
        "minutes on 2 CPU cores):\n  cnnjax train --config "
        f"configs/classifier.py:{dataset} --workdir {path}\nor pass "
        "--extractor classifier:<workdir of a trained classifier>.")
  else:
    values = workdir_lib.read_config(path)
  if values.get("task") != "classifier":
    raise UserError(f"{path} holds a {values.get('task')} run, not a "
                    "classifier; classifier:<workdir> needs a run of "
                    "configs/classifier.py.")
  try:
    section = ml_collections.ConfigDict(values["model"]["classifier"])
    resolution = values["data"]["resolution"]
    channels = values["data"]["channels"]
    num_classes = values["model"]["num_classes"]
  except (KeyError, TypeError) as error:
    raise UserError(f"The config of {path} lacks {error}; it is not one "
                    "this version of cnnjax can read.") from None
  build = lambda: models.build("classifier", section, resolution=resolution,
                               channels=channels, num_classes=num_classes,
                               rngs=nnx.Rngs(0))
  graphdef = nnx.graphdef(nnx.eval_shape(build))
  abstract = sharding.abstract_of(lambda: variables.split(build())[1],
                                  mesh or sharding.make_mesh())
  if os.path.isfile(path):
    network = _from_arrays(abstract, arrays, path)
  else:
    step, network = workdir_lib.restore_subtree(path, "classifier", abstract)
  architecture = json.dumps({"model": values["model"],
                             "resolution": resolution, "channels": channels},
                            sort_keys=True)
  digest = hashlib.sha256(
      (architecture + tree_sha256(network)).encode()).hexdigest()
  return Trained(values, step, network, graphdef, digest)


def _from_arrays(abstract, arrays: dict, path: str):
  """`abstract`'s tree with the file's arrays, which must match it."""
  leaves, treedef = jax.tree_util.tree_flatten_with_path(abstract)
  wanted = {path_name(key): leaf for key, leaf in leaves}
  problems = sorted(set(wanted) ^ set(arrays)) + sorted(
      name for name in set(wanted) & set(arrays)
      if (arrays[name].shape, arrays[name].dtype) !=
      (wanted[name].shape, wanted[name].dtype))
  if problems:
    raise UserError(f"The arrays of {path} do not fit the network its config "
                    f"describes (differing: {', '.join(problems[:5])}).")
  return jax.tree_util.tree_unflatten(treedef, [
      jax.device_put(arrays[path_name(key)], leaf.sharding)
      for key, leaf in leaves])


def load(name: str, path: str, dataset: str, mesh=None) -> FeatureNet:
  """The classifier in `path` (see `read`) as a feature network; `dataset`
  is the run's, which it should classify."""
  trained = read(path, name, mesh, dataset)
  data = trained.values["data"]
  resolution, channels = data["resolution"], data["channels"]
  resize_method = data["resize_method"]

  def apply(weights, images, layers):
    images = to_input(images, resolution, channels, resize_method)
    return variables.merge(trained.graphdef, weights).activations(images,
                                                                  layers)

  return FeatureNet(
      name=name, kind="classifier", digest=trained.digest,
      weights=trained.weights, apply=apply, layers=LAYERS,
      features_layer="features", logits_layer="logits",
      num_classes=trained.values["model"]["num_classes"],
      label_dataset=data["name"],
      input_description=(f"{resolution}x{resolution}x{channels} in [-1, 1]"
                         f" (classifier step {trained.step}); other sizes as "
                         f"its data.resize_method={resize_method!r}"))


def to_input(images: jax.Array, resolution: int, channels: int,
             resize_method: str) -> jax.Array:
  """[-1, 1] images of any square size and 1 or 3 channels -> the
  classifier's input, preprocessed as its training data was."""
  if images.shape[-1] != channels:
    if channels == 3:
      images = jnp.repeat(images, 3, axis=-1)
    else:
      luma = jnp.asarray(transforms.LUMA_WEIGHTS, images.dtype)
      images = images @ luma[:, None]
  side = images.shape[1]
  action = transforms.resolve_method(resize_method, side, resolution)
  if action == "pad":  # as transforms.pad_to, black in [-1, 1]
    before = (resolution - side) // 2
    after = resolution - side - before
    black = transforms.PAD_VALUE / 127.5 - 1.0
    return jnp.pad(images, ((0, 0), (before, after), (before, after), (0, 0)),
                   constant_values=black)
  if action != "none":
    images = jax.image.resize(
        images, (images.shape[0], resolution, resolution, channels),
        method="nearest" if action == "nearest" else "bilinear",
        antialias=action != "nearest")
  return images
