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

Only the run's workdir is read (config.json, and the `classifier` subtree of
its newest checkpoint), not its task: this layer sits below the tasks.
"""

import hashlib
import json
import os

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
from cnnjax.nets.base import FeatureNet, safe_name
from cnnjax.utils.trees import tree_sha256

CLASSIFIERS_DIR = "cnnjax_classifiers"


def default_path(dataset: str, data_dir: str) -> str:
  return os.path.join(data_dir, CLASSIFIERS_DIR, safe_name(dataset))


def load(name: str, workdir: str, dataset: str, mesh=None) -> FeatureNet:
  """The classifier trained in `workdir`, replicated over `mesh`'s devices
  (default: all); `dataset` is the run's, which it should classify."""
  if not os.path.exists(os.path.join(workdir, workdir_lib.CONFIG_FILE)):
    raise UserError(
        f"No trained classifier at {workdir} (feature network {name}). "
        "Train one on the run's dataset once (Fashion-MNIST: about 25 "
        "minutes on 2 CPU cores):\n  cnnjax train --config "
        f"configs/classifier.py:{dataset} --workdir {workdir}\nor pass "
        "--extractor classifier:<workdir of a trained classifier>.")
  values = workdir_lib.read_config(workdir)
  if values.get("task") != "classifier":
    raise UserError(f"{workdir} holds a {values.get('task')} run, not a "
                    "classifier; classifier:<workdir> needs a run of "
                    "configs/classifier.py.")
  try:
    section = ml_collections.ConfigDict(values["model"]["classifier"])
    data = values["data"]
    resolution, channels = data["resolution"], data["channels"]
    resize_method = data["resize_method"]
    num_classes = values["model"]["num_classes"]
  except (KeyError, TypeError) as error:
    raise UserError(f"The config.json of {workdir} lacks {error}; it is not "
                    "one this version of cnnjax can read.") from None
  build = lambda: models.build("classifier", section, resolution=resolution,
                               channels=channels, num_classes=num_classes,
                               rngs=nnx.Rngs(0))
  graphdef = nnx.graphdef(nnx.eval_shape(build))
  mesh = mesh or sharding.make_mesh()
  abstract = sharding.abstract_of(
      lambda: variables.split(build())[1],
      mesh)
  step, network = workdir_lib.restore_subtree(workdir, "classifier", abstract)

  def apply(weights, images, layers):
    images = to_input(images, resolution, channels, resize_method)
    return variables.merge(graphdef, weights).activations(images, layers)

  architecture = json.dumps({"model": values["model"],
                             "resolution": resolution, "channels": channels},
                            sort_keys=True)
  digest = hashlib.sha256(
      (architecture + tree_sha256(network)).encode()).hexdigest()
  return FeatureNet(
      name=name, kind="classifier", digest=digest, weights=network,
      apply=apply, layers=LAYERS, features_layer="features",
      logits_layer="logits", num_classes=num_classes,
      label_dataset=data["name"],
      input_description=(f"{resolution}x{resolution}x{channels} in [-1, 1]"
                         f" (classifier step {step}); other sizes as its "
                         f"data.resize_method={resize_method!r}"))


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
