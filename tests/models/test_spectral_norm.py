"""Spectral normalisation against numpy's SVD, and its buffer discipline."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from cnnjax.models.spectral_norm import SpectralNorm, SpectralNormVector

BUFFERS = nnx.Not(nnx.Param)
# Power iteration converges like (s2 / s1)^(2k). The conv kernel below has
# s2 / s1 = 0.95, so 30 single iterations leave sigma 5% low; 30 training calls
# of 5 iterations each (150 in all) bring it within 1e-4.
ITERATIONS = 5


def _linear():
  rngs = nnx.Rngs(0)
  return SpectralNorm(nnx.Linear(12, 7, rngs=rngs),
                      n_power_iterations=ITERATIONS, rngs=rngs), (5, 12)


def _conv():
  rngs = nnx.Rngs(1)
  layer = nnx.Conv(4, 6, kernel_size=(3, 3), padding="SAME", rngs=rngs)
  return SpectralNorm(layer, n_power_iterations=ITERATIONS,
                      rngs=rngs), (2, 5, 5, 4)


def _matrix(module):
  """The kernel as the matrix SN normalises: [prod(spatial) * in, out]."""
  kernel = np.asarray(module.layer.kernel[...])
  return kernel.reshape(-1, kernel.shape[-1])


@pytest.mark.parametrize("make", [_linear, _conv], ids=["linear", "conv"])
def test_sigma_converges_to_top_singular_value(make):
  module, shape = make()
  x = jax.random.normal(jax.random.PRNGKey(0), shape)
  kernel_before = module.layer.kernel[...]
  for _ in range(30):  # u persists from one training call to the next
    module(x, update_stats=True)
  top = np.linalg.svd(_matrix(module), compute_uv=False)[0]
  np.testing.assert_allclose(float(module.sigma[...]), top, rtol=0.01)
  normalised = np.asarray(module.normalized_weight())
  top_normalised = np.linalg.svd(normalised.reshape(-1, normalised.shape[-1]),
                                 compute_uv=False)[0]
  np.testing.assert_allclose(top_normalised, 1.0, rtol=0.01)
  # The wrapped layer's own weight is never overwritten.
  assert jnp.array_equal(kernel_before, module.layer.kernel[...])


def test_layer_runs_with_the_normalised_weight():
  module, shape = _linear()
  x = jax.random.normal(jax.random.PRNGKey(1), shape)
  expected = x @ module.normalized_weight() + module.layer.bias[...]
  np.testing.assert_allclose(module(x, update_stats=False), expected,
                             rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("make", [_linear, _conv], ids=["linear", "conv"])
def test_u_is_a_buffer_updated_only_in_train_mode(make):
  module, shape = make()
  x = jnp.ones(shape)
  buffers = nnx.state(module, BUFFERS)
  assert set(buffers.keys()) == {"u", "sigma"}
  assert all(isinstance(v, SpectralNormVector)
             for v in jax.tree.leaves(buffers, is_leaf=lambda v: isinstance(
                 v, nnx.Variable)))
  assert "u" not in nnx.state(module, nnx.Param)
  u = module.u[...]
  eval_a = module(x, update_stats=False)
  eval_b = module(x, update_stats=False)
  assert jnp.array_equal(module.u[...], u)  # eval writes nothing ...
  assert jnp.array_equal(eval_a, eval_b)    # ... so it is repeatable
  module(x, update_stats=True)
  assert not jnp.allclose(module.u[...], u)
  np.testing.assert_allclose(jnp.linalg.norm(module.u[...]), 1.0, rtol=1e-5)


def test_gradient_matches_dividing_by_the_true_spectral_norm():
  """With u converged, d/dW of f(W / sigma) equals autodiff through the SVD.

  This checks that the gradient flows through sigma = v^T W u (with u, v
  constants), not only through the numerator.
  """
  module, shape = _conv()
  x = jax.random.normal(jax.random.PRNGKey(2), shape)
  target = jax.random.normal(jax.random.PRNGKey(3), (*shape[:3], 6))
  for _ in range(30):
    module(x, update_stats=True)
  graphdef, params, buffers = nnx.split(module, nnx.Param, BUFFERS)

  def loss(params):
    wrapped = nnx.merge(graphdef, params, buffers)
    return jnp.sum(jnp.sin(wrapped(x, update_stats=False)) * target)

  def reference_loss(params):
    kernel = params["layer"]["kernel"][...]
    sigma = jnp.linalg.norm(kernel.reshape(-1, kernel.shape[-1]), ord=2)
    y = jax.lax.conv_general_dilated(
        x, kernel / sigma, (1, 1), "SAME",
        dimension_numbers=("NHWC", "HWIO", "NHWC"))
    return jnp.sum(jnp.sin(y + params["layer"]["bias"][...]) * target)

  got = jax.grad(loss)(params)["layer"]["kernel"][...]
  want = jax.grad(reference_loss)(params)["layer"]["kernel"][...]
  assert bool(jnp.all(jnp.isfinite(got)))
  np.testing.assert_allclose(got, want, rtol=1e-3, atol=1e-4)


def test_jit_grad_updates_buffers_functionally():
  """The train step's pattern: split, merge inside jit/grad, read buffers."""
  module, shape = _conv()
  graphdef, params, buffers = nnx.split(module, nnx.Param, BUFFERS)

  @jax.jit
  def step(params, buffers, x):
    def loss(params):
      # Buffers that are not differentiated are rebuilt inside the trace.
      wrapped = nnx.merge(graphdef, params, jax.tree.map(lambda b: b, buffers))
      y = wrapped(x, update_stats=True)
      return jnp.mean(y**2), nnx.state(wrapped, BUFFERS)
    return jax.grad(loss, has_aux=True)(params)

  grads, new_buffers = step(params, buffers, jnp.ones(shape))
  assert all(bool(jnp.all(jnp.isfinite(g)))
             for g in jax.tree.leaves(grads))
  assert not jnp.array_equal(new_buffers["u"][...], buffers["u"][...])


def test_embedding_is_normalised_as_a_matrix():
  rngs = nnx.Rngs(4)
  module = SpectralNorm(nnx.Embed(10, 6, rngs=rngs), n_power_iterations=50,
                        rngs=rngs)
  labels = jnp.array([0, 3, 9])
  rows = module(labels, update_stats=True)
  table = np.asarray(module.layer.embedding[...])
  top = np.linalg.svd(table, compute_uv=False)[0]
  np.testing.assert_allclose(float(module.sigma[...]), top, rtol=0.01)
  np.testing.assert_allclose(rows, table[[0, 3, 9]] / float(module.sigma[...]),
                             rtol=1e-3, atol=1e-5)


def test_rejects_layers_without_a_weight_matrix():
  rngs = nnx.Rngs(0)
  with pytest.raises(ValueError, match="spectral-normalise"):
    SpectralNorm(nnx.BatchNorm(4, rngs=rngs), rngs=rngs)
