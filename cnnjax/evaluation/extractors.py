"""Feature extractors for FID, KID, precision/recall and the Inception Score:
a feature network of `cnnjax.nets` and two of its layers.

An extractor is named by the network's spec string (`eval.extractor`,
`--extractor`): classifier (the default: cnnjax trains it itself, offline),
classifier:<workdir>, inception_v3, inception_v3:<weights.npz>; see
`cnnjax.nets` for where each finds its weights and how images reach it.

Every extractor maps a batch of images as the GAN sees them (float32
[B, R, R, C] in [-1, 1], real and generated alike) to features [B, D] (the
network's `features_layer`: the classifier's dense layer, Inception's
pool3) and class logits [B, K]. `digest` identifies the weights (and
architecture), so cached reference statistics are never reused across
different networks.
"""

import dataclasses
from collections.abc import Callable
from typing import Any

import jax

from cnnjax import nets
from cnnjax.errors import UserError


@dataclasses.dataclass(frozen=True)
class Extractor:
  """A feature network's features and logits, ready to be traced under jit.

  `apply(weights, images)` is pure: images in [-1, 1] at any resolution ->
  (features [B, D], logits [B, K]).
  """
  name: str  # the resolved spec, e.g. "classifier:/abs/path/to/workdir"
  kind: str  # "classifier" or "inception_v3"
  digest: str  # sha256 of the weights and architecture
  weights: Any  # a pytree of arrays, the first argument of `apply`
  apply: Callable[[Any, jax.Array], tuple[jax.Array, jax.Array]]
  num_classes: int
  # The dataset whose labels the logits are; None when they are another
  # label set (Inception's ImageNet), so class accuracy cannot be measured.
  label_dataset: str | None
  input_description: str

  def describe(self) -> dict:
    return {"extractor": self.name, "extractor_sha256": self.digest[:16]}


def from_net(net: nets.FeatureNet) -> Extractor:
  """The extractor of a feature network: its features and logits layers."""
  if net.logits_layer is None:
    raise UserError(
        f"{net.name} has no class logits (a {net.kind} feature network for "
        "perceptual and style losses), so it cannot score FID or the "
        "Inception Score; use classifier or inception_v3.")
  layers = (net.features_layer, net.logits_layer)

  def apply(weights, images):
    outputs = net.apply(weights, images, layers)
    return outputs[layers[0]], outputs[layers[1]]

  return Extractor(name=net.name, kind=net.kind, digest=net.digest,
                   weights=net.weights, apply=apply,
                   num_classes=net.num_classes,
                   label_dataset=net.label_dataset,
                   input_description=net.input_description)


def load(spec: str, *, dataset: str, data_dir: str) -> Extractor:
  """The extractor of the feature network a spec names."""
  return from_net(nets.load(spec, dataset=dataset, data_dir=data_dir))


resolve = nets.resolve
