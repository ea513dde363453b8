"""A perceptual distance on a feature network's activations.

LPIPS (Zhang et al. 2018) without its learned per-channel weights: each
layer's activations are unit-normalised along the channel axis, and the
squared differences are summed over channels, averaged over positions and
summed over layers. Its feature network is any of `cnnjax.nets` (the
classifier cnnjax trains, by default: the one network every offline
machine has), the same choice StyleGAN2-ADA's projector makes with VGG16.
"""

import jax
import jax.numpy as jnp

from cnnjax.nets.base import FeatureNet

# VGG: LPIPS's layers (Zhang et al. 2018), which VGG-19 has too.
_LPIPS_VGG = ("relu1_2", "relu2_2", "relu3_3", "relu4_3", "relu5_3")
DEFAULT_LAYERS = {"classifier": ("block1", "block2", "block3", "features"),
                  "inception_v3": ("Mixed_5d", "Mixed_6e", "pool3"),
                  "vgg16": _LPIPS_VGG, "vgg19": _LPIPS_VGG}


def layers_of(net: FeatureNet, names: str = "") -> tuple[str, ...]:
  """The layers a comma-separated `names` picks ("" = the kind's default),
  checked against the network's."""
  chosen = tuple(n for n in names.split(",") if n) or DEFAULT_LAYERS.get(
      net.kind, (net.features_layer,))
  unknown = sorted(set(chosen) - set(net.layers))
  if unknown:
    raise ValueError(f"{net.name} has no layers {unknown}; its layers are "
                     f"{net.layers}.")
  return chosen


def _normalise(x: jax.Array) -> jax.Array:
  return x * jax.lax.rsqrt(jnp.sum(x * x, axis=-1, keepdims=True) + 1e-10)


def distance(net: FeatureNet, weights, a: jax.Array, b: jax.Array,
             layers: tuple[str, ...]) -> jax.Array:
  """Per-image perceptual distance [B] between image batches a and b in
  [-1, 1] (one pass of the network over both)."""
  outputs = net.apply(weights, jnp.concatenate([a, b]), layers)
  total = jnp.zeros(a.shape[0], jnp.float32)
  for name in layers:
    fa, fb = jnp.split(_normalise(outputs[name].astype(jnp.float32)), 2)
    squared = jnp.sum((fa - fb) ** 2, axis=-1)
    total += jnp.mean(squared.reshape(a.shape[0], -1), axis=1)
  return total
