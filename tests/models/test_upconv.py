"""The hand-written VJP of the transposed convolution against autodiff and
against a direct scatter definition of ConvTranspose2d(k=4, s=2, p=1)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.test_util import check_grads

from cnnjax.models import upconv


def _scatter_reference(x, kernel):
  """y[2i+a-1, 2j+b-1] += x[i, j] @ kernel[a, b]^T: PyTorch's definition."""
  n, h, w, _ = x.shape
  out = np.zeros((n, 2 * h + 2, 2 * w + 2, kernel.shape[2]))  # 1 px margin
  for a in range(4):
    for b in range(4):
      contribution = np.einsum("nhwc,oc->nhwo", x, kernel[a, b])
      out[:, a:a + 2 * h:2, b:b + 2 * w:2] += contribution
  return out[:, 1:-1, 1:-1]


@pytest.mark.parametrize("shape", [(2, 3, 3, 4, 5), (1, 4, 2, 1, 3)])
def test_forward_matches_scatter_definition(shape):
  n, h, w, c_in, c_out = shape
  rng = np.random.default_rng(0)
  x = rng.normal(size=(n, h, w, c_in))
  kernel = rng.normal(size=(4, 4, c_out, c_in))
  y = upconv.transposed_conv(jnp.asarray(x, jnp.float32),
                             jnp.asarray(kernel, jnp.float32))
  np.testing.assert_allclose(y, _scatter_reference(x, kernel), rtol=1e-4,
                             atol=1e-4)


@pytest.mark.parametrize("shape", [(2, 4, 4, 8, 3), (3, 5, 7, 2, 6)])
def test_gradients_match_autodiff(shape):
  n, h, w, c_in, c_out = shape
  keys = jax.random.split(jax.random.PRNGKey(1), 3)
  x = jax.random.normal(keys[0], (n, h, w, c_in))
  kernel = jax.random.normal(keys[1], (4, 4, c_out, c_in))
  target = jax.random.normal(keys[2], (n, 2 * h, 2 * w, c_out))

  def loss(f):
    return lambda x, k: jnp.sum(jnp.sin(f(x, k)) * target)

  custom = jax.grad(loss(upconv.transposed_conv), argnums=(0, 1))(x, kernel)
  reference = jax.grad(loss(upconv._transposed_conv), argnums=(0, 1))(x, kernel)
  for got, want in zip(custom, reference):
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)
  # And the VJP is not accidentally the same code path: check_grads
  # compares it with finite differences too.
  check_grads(upconv.transposed_conv, (x, kernel), order=1,
                            modes=("rev",), atol=1e-2, rtol=1e-2)
