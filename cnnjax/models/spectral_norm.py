"""Spectral normalisation (Miyato et al. 2018) as a layer wrapper.

`SpectralNorm(layer)` runs `layer` with its weight W divided by an estimate of
W's largest singular value sigma, so the layer is (about) 1-Lipschitz. sigma
comes from power iteration on a vector u that persists between calls: one
iteration per training call is enough because W changes little per step.

Which matrix: a Conv kernel [kh, kw, in, out] (or a Linear kernel [in, out],
or an Embed table [num_classes, out]) is reshaped to [kh * kw * in, out]: the
output features are the columns, everything a single output reads is a row.
This is the usual choice in JAX (flax.linen and nnx do the same); PyTorch's
[out, in * kh * kw] is its transpose, which has the same singular values, so
the two only differ in which side u lives on. Here u has one entry per output
feature and v one per row.

u (and the last sigma, handy for logging) live in `SpectralNormVector`
variables: not `nnx.Param`, so the optimizer never sees them, and not
`nnx.BatchStat`, so "no batch statistics" stays checkable. They are
checkpointed with the other buffers and written only when the layer is called
with `update_stats=True`.
"""

import jax
import jax.numpy as jnp
from flax import nnx

# The attribute holding the weight matrix, by layer type: Linear and Conv call
# it `kernel`, Embed calls it `embedding`.
_WEIGHT_NAMES = ("kernel", "embedding")


class SpectralNormVector(nnx.Variable):
  """Power-iteration state of a spectral norm (u, last sigma): a buffer."""


def _normalize(x: jax.Array, eps: float) -> jax.Array:
  return x / (jnp.linalg.norm(x) + eps)


def power_iteration(matrix: jax.Array, u: jax.Array, n_iterations: int,
                    eps: float) -> tuple[jax.Array, jax.Array, jax.Array]:
  """(sigma, u, v) after `n_iterations` steps from u, for `matrix` [rows, cols].

  u (cols) and v (rows) are returned as constants (stop_gradient), as in the
  reference implementation: sigma = v^T W u then has the gradient v u^T with
  respect to W, the gradient of the true top singular value at convergence.
  """
  v = None
  for _ in range(n_iterations):
    v = _normalize(matrix @ u, eps)
    u = _normalize(matrix.T @ v, eps)
  u, v = jax.lax.stop_gradient(u), jax.lax.stop_gradient(v)
  return v @ matrix @ u, u, v


class SpectralNorm(nnx.Module):
  """Wraps a Linear, Conv or Embed so that it runs with W / sigma(W).

  Called as `wrapped(x, update_stats=train)`. With update_stats=False nothing
  is written: the same state gives the same output, and u is not advanced.
  """

  def __init__(self, layer: nnx.Module, *, n_power_iterations: int = 1,
               eps: float = 1e-12, rngs: nnx.Rngs):
    if n_power_iterations < 1:
      raise ValueError("n_power_iterations must be at least 1, got "
                       f"{n_power_iterations}")
    names = [name for name in _WEIGHT_NAMES if hasattr(layer, name)]
    if len(names) != 1:
      raise ValueError(f"{type(layer).__name__} has no single weight among "
                       f"{_WEIGHT_NAMES}: cannot spectral-normalise it")
    self.layer = layer
    self.weight_name = names[0]
    self.n_power_iterations = n_power_iterations
    self.eps = eps
    features = getattr(layer, self.weight_name).shape[-1]
    # A random start, as in the reference: it is a direction, hence normalised.
    self.u = SpectralNormVector(_normalize(
        jax.random.normal(rngs.params(), (features,), jnp.float32), eps))
    self.sigma = SpectralNormVector(jnp.ones((), jnp.float32))

  def normalized_weight(self, update_stats: bool = False) -> jax.Array:
    """W / sigma(W), in W's shape; advances u only if `update_stats`."""
    weight = getattr(self.layer, self.weight_name)[...]
    matrix = weight.reshape(-1, weight.shape[-1])
    sigma, u, _ = power_iteration(matrix, self.u[...],
                                  self.n_power_iterations, self.eps)
    if update_stats:
      self.u[...] = u
      self.sigma[...] = jax.lax.stop_gradient(sigma)
    return weight / jnp.maximum(sigma, self.eps)

  def __call__(self, x: jax.Array, *, update_stats: bool = True) -> jax.Array:
    weight = self.normalized_weight(update_stats)
    # Run a copy of the layer whose weight is the normalised one, so the
    # layer's own code (padding, strides, bias, lookup) is reused and its
    # parameters are never overwritten (eval mode must change nothing).
    graphdef, state = nnx.split(self.layer)
    state = jax.tree.map(lambda x: x, state)  # fresh variables, not aliases
    state[self.weight_name][...] = weight
    return nnx.merge(graphdef, state)(x)


def maybe_spectral_norm(layer: nnx.Module, enabled: bool, *,
                        rngs: nnx.Rngs) -> nnx.Module:
  """`SpectralNorm(layer)` if enabled, else the layer itself; see `apply`."""
  return SpectralNorm(layer, rngs=rngs) if enabled else layer


def apply(layer: nnx.Module, x: jax.Array, *, train: bool) -> jax.Array:
  """Calls a layer that may or may not be wrapped by `maybe_spectral_norm`."""
  if isinstance(layer, SpectralNorm):
    return layer(x, update_stats=train)
  return layer(x)
