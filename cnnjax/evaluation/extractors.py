"""Feature extractors for FID, KID, precision/recall and the Inception Score.

An extractor is named by a spec string (`eval.extractor`, `--extractor`):

  classifier             the classifier trained on the run's dataset at the
                         standard place, <data dir>/cnnjax_classifiers/<dataset>
                         (the default: cnnjax trains it itself, offline)
  classifier:<workdir>   the newest checkpoint of a `configs/classifier.py` run
  inception_v3           pytorch-fid's Inception v3 from
                         $CNNJAX_INCEPTION_WEIGHTS, else
                         <data dir>/cnnjax_weights/pt_inception-2015-12-05.npz
  inception_v3:<file>    the same network from that converted .npz file

Every extractor maps a batch of images as the GAN sees them (float32
[B, R, R, C] in [-1, 1], real and generated alike) to features [B, D] and
class logits [B, K]. How images reach the network's input is explicit:

  classifier    same size and channels as its training data (the usual
                case): the pixels unchanged. Another size is brought to its
                resolution as its own training data was (its
                `data.resize_method`: "auto" zero-pads a gap of a few pixels,
                as Fashion-MNIST's 28 -> 32, and otherwise resizes
                bilinearly, with antialiasing when shrinking). 1 -> 3
                channels repeats the gray channel; 3 -> 1 takes the ITU-R 601
                luma (0.299 R + 0.587 G + 0.114 B).
  inception_v3  (x + 1) / 2 into [0, 1], gray repeated to RGB, then the
                network's own resize to 299x299 (PyTorch's bilinear,
                align_corners=False, no antialiasing) and scaling to [-1, 1],
                exactly as pytorch-fid.

`digest` identifies the weights (and architecture), so cached reference
statistics are never reused across different networks.
"""

import dataclasses
import hashlib
import json
import os
import re
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
from flax import nnx

from cnnjax.data import transforms
from cnnjax.errors import UserError
from cnnjax.utils.trees import tree_sha256

CLASSIFIERS_DIR = "cnnjax_classifiers"
WEIGHTS_DIR = "cnnjax_weights"
INCEPTION_FILE = "pt_inception-2015-12-05.npz"
INCEPTION_ENV = "CNNJAX_INCEPTION_WEIGHTS"
LUMA = (0.299, 0.587, 0.114)


@dataclasses.dataclass(frozen=True)
class Extractor:
  """A feature network with its weights, ready to be traced under jit.

  `apply(weights, images)` is pure: images in [-1, 1] at any resolution ->
  (features [B, D], logits [B, K]).
  """
  name: str  # the resolved spec, e.g. "classifier:/abs/path/to/workdir"
  kind: str  # "classifier" or "inception_v3"
  digest: str  # sha256 of the weights and architecture
  weights: Any  # a pytree of arrays, the first argument of `apply`
  apply: Callable[[Any, jax.Array], tuple[jax.Array, jax.Array]]
  feature_dim: int
  num_classes: int
  # The dataset whose labels the logits are; None when they are another
  # label set (Inception's ImageNet), so class accuracy cannot be measured.
  label_dataset: str | None
  input_description: str

  def describe(self) -> dict:
    return {"extractor": self.name, "extractor_sha256": self.digest[:16]}


def resolve(spec: str, *, dataset: str, data_dir: str) -> str:
  """A spec with its default path filled in and made absolute."""
  kind, _, path = spec.partition(":")
  if kind not in EXTRACTORS:
    raise UserError(f"Unknown feature extractor {spec!r}; use one of "
                    "classifier, classifier:<workdir>, inception_v3, "
                    "inception_v3:<weights.npz>.")
  if not path:
    path = EXTRACTORS[kind].default_path(dataset, data_dir)
  return f"{kind}:{os.path.abspath(os.path.expanduser(path))}"


def load(spec: str, *, dataset: str, data_dir: str) -> Extractor:
  """The extractor a spec names (see the module docstring)."""
  name = resolve(spec, dataset=dataset, data_dir=data_dir)
  kind, _, path = name.partition(":")
  return EXTRACTORS[kind].load(name, path, dataset)


def _safe_name(dataset: str) -> str:
  return re.sub(r"[^A-Za-z0-9_.-]+", "_", dataset)


def _classifier_default(dataset: str, data_dir: str) -> str:
  return os.path.join(data_dir, CLASSIFIERS_DIR, _safe_name(dataset))


def _load_classifier(name: str, workdir: str, dataset: str) -> Extractor:
  from cnnjax import config as config_lib
  from cnnjax.train import run as run_lib
  if not os.path.exists(os.path.join(workdir, run_lib.CONFIG_FILE)):
    raise UserError(
        f"No trained classifier at {workdir} (feature extractor {name}). "
        "Train one on the run's dataset once (Fashion-MNIST: about 25 "
        "minutes on 2 CPU cores):\n  cnnjax train --config "
        f"configs/classifier.py:{dataset} --workdir {workdir}\nor pass "
        "--extractor classifier:<workdir of a trained classifier>.")
  config, modules, step, state = run_lib.load_run(workdir)
  if config.get("task") != "classifier":
    raise UserError(f"{workdir} holds a {config.get('task', 'gan')} run, not "
                    "a classifier; classifier:<workdir> needs a run of "
                    "configs/classifier.py.")
  resolution, channels = config.data.resolution, config.data.channels
  resize_method = config.data.resize_method
  weights = {"params": state["params"], "buffers": state["buffers"]}
  graphdef = modules.model

  def apply(weights, images):
    images = _to_classifier_input(images, resolution, channels,
                                  resize_method)
    model = nnx.merge(graphdef, weights["params"], weights["buffers"])
    features = model.features(images)
    return features, model.head(features)

  architecture = json.dumps({"model": config_lib.to_dict(config.model),
                             "resolution": resolution, "channels": channels},
                            sort_keys=True)
  digest = hashlib.sha256(
      (architecture + tree_sha256(weights)).encode()).hexdigest()
  return Extractor(
      name=name, kind="classifier", digest=digest, weights=weights,
      apply=apply, feature_dim=config.model.feature_dim,
      num_classes=config.model.num_classes,
      label_dataset=config.data.name,
      input_description=(f"{resolution}x{resolution}x{channels} in [-1, 1]"
                         f" (classifier step {step}); other sizes as its "
                         f"data.resize_method={resize_method!r}"))


def _to_classifier_input(images: jax.Array, resolution: int, channels: int,
                         resize_method: str) -> jax.Array:
  """[-1, 1] images of any square size and 1 or 3 channels -> the
  classifier's input, preprocessed as its training data was."""
  if images.shape[-1] != channels:
    if channels == 3:
      images = jnp.repeat(images, 3, axis=-1)
    else:
      images = images @ jnp.asarray(LUMA, images.dtype)[:, None]
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


def _inception_default(dataset: str, data_dir: str) -> str:
  del dataset  # one network for every dataset
  return os.environ.get(INCEPTION_ENV) or os.path.join(
      data_dir, WEIGHTS_DIR, INCEPTION_FILE)


def _load_inception(name: str, path: str, dataset: str) -> Extractor:
  del dataset  # one network for every dataset
  from cnnjax.metrics import inception
  try:
    model = inception.load_inception_weights(path)
  except UserError as error:
    raise UserError(f"{error}\nThen pass --extractor inception_v3:<file.npz> "
                    f"or set {INCEPTION_ENV}; or use the offline default, "
                    "--extractor classifier.") from None
  graphdef, weights = nnx.split(model)

  def apply(weights, images):
    images = jnp.clip((images + 1) / 2, 0.0, 1.0)
    if images.shape[-1] == 1:
      images = jnp.repeat(images, 3, axis=-1)
    return nnx.merge(graphdef, weights)(images)

  digest = hashlib.sha256()
  with open(path, "rb") as f:
    for chunk in iter(lambda: f.read(1 << 20), b""):
      digest.update(chunk)
  return Extractor(
      name=name, kind="inception_v3", digest=digest.hexdigest(),
      weights=weights, apply=apply, feature_dim=inception.FEATURE_DIM,
      num_classes=inception.NUM_CLASSES, label_dataset=None,
      input_description="(x + 1) / 2, gray -> RGB, bilinear resize to 299 "
                        "(pytorch-fid)")


@dataclasses.dataclass(frozen=True)
class _Kind:
  default_path: Callable[[str, str], str]
  load: Callable[[str, str, str], Extractor]  # (name, path, dataset)


EXTRACTORS = {
    "classifier": _Kind(_classifier_default, _load_classifier),
    "inception_v3": _Kind(_inception_default, _load_inception),
}
