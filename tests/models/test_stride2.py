"""The hand-written VJPs of the 4x4 stride-2 convolution and its transpose,
against autodiff of XLA's own formulation, finite differences, and a direct
scatter definition of ConvTranspose2d(k=4, s=2, p=1)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.test_util import check_grads

from cnnjax.models import stride2


def _scatter_reference(x, kernel):
  """y[2i+a-1, 2j+b-1] += x[i, j] @ kernel[a, b]^T: PyTorch's definition."""
  n, h, w, _ = x.shape
  out = np.zeros((n, 2 * h + 2, 2 * w + 2, kernel.shape[2]))  # 1 px margin
  for a in range(4):
    for b in range(4):
      contribution = np.einsum("nhwc,oc->nhwo", x, kernel[a, b])
      out[:, a:a + 2 * h:2, b:b + 2 * w:2] += contribution
  return out[:, 1:-1, 1:-1]


def _xla_transposed_conv(x, kernel):
  """The transposed conv as XLA derives it: the reference for gradients."""
  return stride2._transpose(stride2.xla_strided_conv, x, kernel)


@pytest.mark.parametrize("shape", [(2, 3, 3, 4, 5), (1, 4, 2, 1, 3)])
def test_transposed_forward_matches_scatter_definition(shape):
  n, h, w, c_in, c_out = shape
  rng = np.random.default_rng(0)
  x = rng.normal(size=(n, h, w, c_in))
  kernel = rng.normal(size=(4, 4, c_out, c_in))
  y = stride2.transposed_conv(jnp.asarray(x, jnp.float32),
                              jnp.asarray(kernel, jnp.float32))
  np.testing.assert_allclose(y, _scatter_reference(x, kernel), rtol=1e-4,
                             atol=1e-4)


def _random(shape_x, shape_k, shape_y, seed=1):
  keys = jax.random.split(jax.random.PRNGKey(seed), 3)
  return (jax.random.normal(keys[0], shape_x),
          jax.random.normal(keys[1], shape_k),
          jax.random.normal(keys[2], shape_y))


def _assert_same_gradients(custom, reference, x, kernel, target):
  def loss(f):
    return lambda x, k: jnp.sum(jnp.sin(f(x, k)) * target)

  got = jax.grad(loss(custom), argnums=(0, 1))(x, kernel)
  want = jax.grad(loss(reference), argnums=(0, 1))(x, kernel)
  for g, w in zip(got, want):
    np.testing.assert_allclose(g, w, rtol=1e-4, atol=1e-4)
  # And the VJP is not accidentally the same code path: check_grads
  # compares it with finite differences too.
  check_grads(custom, (x, kernel), order=1, modes=("rev",), atol=1e-2,
              rtol=1e-2)


@pytest.mark.parametrize("shape", [(2, 4, 4, 8, 3), (3, 5, 7, 2, 6)])
def test_transposed_gradients_match_autodiff(shape):
  n, h, w, c_in, c_out = shape
  x, kernel, target = _random((n, h, w, c_in), (4, 4, c_out, c_in),
                              (n, 2 * h, 2 * w, c_out))
  _assert_same_gradients(stride2.transposed_conv, _xla_transposed_conv, x,
                         kernel, target)


@pytest.mark.parametrize("shape", [(2, 8, 8, 3, 5), (3, 6, 10, 4, 2)])
def test_strided_values_and_gradients_match_autodiff(shape):
  n, h, w, c_in, c_out = shape
  x, kernel, target = _random((n, h, w, c_in), (4, 4, c_in, c_out),
                              (n, h // 2, w // 2, c_out))
  np.testing.assert_allclose(stride2.strided_conv(x, kernel),
                             stride2.xla_strided_conv(x, kernel), rtol=1e-5,
                             atol=1e-5)
  _assert_same_gradients(stride2.strided_conv, stride2.xla_strided_conv, x,
                         kernel, target)


def test_transposed_conv_is_the_adjoint_of_the_strided_one():
  """<C x, y> = <x, C^T y>: the two layers are each other's transpose."""
  x, kernel, y = _random((2, 6, 8, 3), (4, 4, 3, 5), (2, 3, 4, 5), seed=2)
  left = jnp.vdot(stride2.strided_conv(x, kernel), y)
  right = jnp.vdot(x, stride2.transposed_conv(y, kernel))
  np.testing.assert_allclose(left, right, rtol=1e-5)


@pytest.mark.parametrize("layer", ["strided", "transposed"])
def test_second_derivatives_match_autodiff(layer):
  """A gradient penalty differentiates the input gradient again: the VJPs
  are written in terms of each other, and must stay exact to every order."""
  if layer == "strided":
    custom, reference = stride2.strided_conv, stride2.xla_strided_conv
    x, kernel, target = _random((2, 6, 8, 3), (4, 4, 3, 5), (2, 3, 4, 5))
  else:
    custom, reference = stride2.transposed_conv, _xla_transposed_conv
    x, kernel, target = _random((2, 3, 4, 5), (4, 4, 3, 5), (2, 6, 8, 3))

  def penalty(f):
    def input_gradient_norm(x, k):
      dx = jax.grad(lambda x: jnp.sum(jnp.sin(f(x, k)) * target))(x)
      return jnp.sum(dx ** 2)
    return jax.grad(input_gradient_norm, argnums=(0, 1))

  for got, want in zip(penalty(custom)(x, kernel),
                       penalty(reference)(x, kernel)):
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)
  check_grads(custom, (x, kernel), order=2, modes=("rev",), atol=1e-2,
              rtol=1e-2)
