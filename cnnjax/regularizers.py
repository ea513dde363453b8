"""Discriminator regularisers, WGAN-GP's gradient penalty and R1, and
the generator's path lengths (StyleGAN2's path length regularisation).

Both take `d_fn(images) -> logits [B]`, a function the caller closes over
the discriminator's parameters, so the penalties stay differentiable with
respect to them (a double backward). Both differentiate sum(D(x)) with
respect to the batch: that gives each sample's own gradient only when D
treats samples independently, which holds for the spectral-norm and
unnormalised critics these penalties are used with, but not for batch norm
in training mode.
"""

import jax
import jax.numpy as jnp


def _input_gradients(d_fn, images: jax.Array) -> jax.Array:
  """grad_x sum(D(x)): sample i's own gradient only if D has no batch-coupled
  ops (see the module docstring)."""
  return jax.grad(lambda x: jnp.sum(d_fn(x)))(images)


def _squared_norms(gradients: jax.Array) -> jax.Array:
  return jnp.sum(gradients.reshape(gradients.shape[0], -1) ** 2, axis=1)


def gradient_penalty(d_fn, real: jax.Array, fake: jax.Array,
                     key: jax.Array) -> jax.Array:
  """E[(||grad D(x_hat)||_2 - 1)^2] at x_hat = eps real + (1 - eps) fake,
  eps ~ U[0, 1] per sample from `key` (Gulrajani et al. 2017, algorithm 1).

  The norm runs over all non-batch axes. The gradient is that of
  sum(D(x_hat)) with respect to x_hat, which is per-sample only for a D that
  treats samples independently (spectral norm or no normalisation, as the
  paper requires; not batch norm in training mode). The caller multiplies
  by the weight (lambda = 10 in the paper).
  """
  shape = (real.shape[0],) + (1,) * (real.ndim - 1)
  eps = jax.random.uniform(key, shape, real.dtype)
  mixed = eps * real + (1.0 - eps) * fake
  # A tiny epsilon keeps the norm's gradient finite at a zero gradient.
  norms = jnp.sqrt(_squared_norms(_input_gradients(d_fn, mixed)) + 1e-12)
  return jnp.mean((norms - 1.0) ** 2)


def r1_penalty(d_fn, real: jax.Array) -> jax.Array:
  """E[||grad D(x)||^2] on real data (Mescheder et al. 2018), with the same
  per-sample caveat as `gradient_penalty`.

  No gamma here: the D loss adds (gamma / 2) times this, and times `every`
  when applied lazily (see `lazy_regularization_adam`); train/step.py does
  both.
  """
  return jnp.mean(_squared_norms(_input_gradients(d_fn, real)))


def lazy_regularization_adam(lr: float, b1: float, b2: float,
                             every: int) -> tuple[float, float, float]:
  """Adam's hyper-parameters for a regulariser applied every `every` steps.

  StyleGAN2 (Karras et al. 2020, appendix B): with c = every / (every + 1),
  use lr * c, b1 ** c and b2 ** c, and multiply the penalty by `every`; then
  lazy regularisation matches eager regularisation in expectation.
  """
  c = every / (every + 1)
  return lr * c, b1**c, b2**c


def path_lengths(synthesis, ws: jax.Array, key: jax.Array) -> jax.Array:
  """StyleGAN2's path lengths |J_w^T y|: per sample, the norm of the
  gradient of sum(G(w) * y) with respect to its W+ codes, y ~ N(0, I) /
  sqrt(H W) drawn from `key`, the norm taken over w_dim and averaged over
  the layers (stylegan2-ada-pytorch's pl_lengths). `synthesis(ws)` maps
  [N, num_ws, w_dim] to images [N, H, W, C], sample by sample (no batch
  coupling), so the gradient of the sum is each sample's own.
  """
  images, pullback = jax.vjp(synthesis, ws)
  h, w = images.shape[1], images.shape[2]
  y = jax.random.normal(key, images.shape, images.dtype) / jnp.sqrt(h * w)
  (grads,) = pullback(y)
  return jnp.sqrt(jnp.mean(jnp.sum(jnp.square(grads), axis=2), axis=1))
