"""The seed's CNN classifier: three conv+pool blocks, a dense layer, softmax.

Its dense layer's activations (`features`) are cnnjax's default feature space
for FID, KID and precision/recall, and its softmax for the Inception Score
and class accuracy: a network cnnjax trains itself, since pretrained
Inception weights cannot be downloaded everywhere.
"""

import jax
from flax import nnx

from cnnjax.models import layers


LAYERS = ("block1", "block2", "block3", "features", "logits")


class Classifier(nnx.Module):
  """[B, R, R, C] images in [-1, 1] -> class logits (and features)."""

  def __init__(self, *, base_width: int, feature_dim: int, resolution: int,
               channels: int, num_classes: int, rngs: nnx.Rngs):
    widths = [channels, base_width, 2 * base_width, 4 * base_width]
    self.convs = nnx.List([
        nnx.Conv(a, b, kernel_size=(3, 3), padding="SAME", rngs=rngs)
        for a, b in zip(widths[:-1], widths[1:])])
    size = resolution
    for _ in self.convs:
      size //= 2  # 2x2 max pooling, floor as in PyTorch's default
    self.dense = nnx.Linear(size * size * widths[-1], feature_dim, rngs=rngs)
    self.head = nnx.Linear(feature_dim, num_classes, rngs=rngs)

  @classmethod
  def config_problems(cls, fields: dict, resolution: int) -> list[str]:
    del resolution  # every resolution of data.resolution
    return layers.config_problems(fields, "base_width", "feature_dim")

  def features(self, x: jax.Array) -> jax.Array:
    """The dense layer's ReLU activations: [B, feature_dim]."""
    return self.activations(x, ("features",))["features"]

  def activations(self, x: jax.Array,
                  names: tuple[str, ...]) -> dict[str, jax.Array]:
    """{name: activations} of the named layers of LAYERS: "block1" to
    "block3" after each conv + ReLU + 2x2 max pool, "features" (the dense
    layer's ReLU) and "logits"."""
    stages = [(f"block{i + 1}", lambda x, conv=conv: nnx.max_pool(
        nnx.relu(conv(x)), (2, 2), strides=(2, 2)))
              for i, conv in enumerate(self.convs)]
    stages += [("features", lambda x: nnx.relu(self.dense(
        x.reshape(x.shape[0], -1)))), ("logits", self.head)]
    return layers.named_activations(x, stages, names, "The classifier")

  def __call__(self, x: jax.Array, train: bool = True) -> jax.Array:
    del train  # no dropout or batch norm: train and eval are the same map
    return self.head(self.features(x))
