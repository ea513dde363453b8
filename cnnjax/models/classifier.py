"""The seed's CNN classifier: three conv+pool blocks, a dense layer, softmax.

Its dense layer's activations (`features`) are cnnjax's default feature space
for FID, KID and precision/recall, and its softmax for the Inception Score
and class accuracy: a network cnnjax trains itself, since pretrained
Inception weights cannot be downloaded everywhere.
"""

import jax
from flax import nnx


class Classifier(nnx.Module):
  """[B, R, R, C] images in [-1, 1] -> class logits (and features)."""

  def __init__(self, *, base_width: int, resolution: int, channels: int,
               num_classes: int, feature_dim: int, rngs: nnx.Rngs):
    widths = [channels, base_width, 2 * base_width, 4 * base_width]
    self.convs = nnx.List([
        nnx.Conv(a, b, kernel_size=(3, 3), padding="SAME", rngs=rngs)
        for a, b in zip(widths[:-1], widths[1:])])
    size = resolution
    for _ in self.convs:
      size //= 2  # 2x2 max pooling, floor as in PyTorch's default
    self.dense = nnx.Linear(size * size * widths[-1], feature_dim, rngs=rngs)
    self.head = nnx.Linear(feature_dim, num_classes, rngs=rngs)

  def features(self, x: jax.Array) -> jax.Array:
    """The dense layer's ReLU activations: [B, feature_dim]."""
    for conv in self.convs:
      x = nnx.max_pool(nnx.relu(conv(x)), (2, 2), strides=(2, 2))
    return nnx.relu(self.dense(x.reshape(x.shape[0], -1)))

  def __call__(self, x: jax.Array, train: bool = True) -> jax.Array:
    del train  # no dropout or batch norm: train and eval are the same map
    return self.head(self.features(x))
