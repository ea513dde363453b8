"""Inversion of real images into a generator's latent space.

Three methods, each a jitted function of a batch that is split over every
device of the mesh (every image's latent is its own problem):

  encoder    z = E(x): one forward pass of a trained encoder (pSp, e4e)
  optimize   Adam on the latent, as StyleGAN2-ADA's projector: pixel L2
             plus the perceptual distance of cnnjax.editing.perceptual, the
             prior regulariser of the latent space (`spaces`; in z
             (mean(z^2) - 1)^2), a learning rate that ramps up over the
             first 5% of steps and down (cosine) over the last 25%, and
             Gaussian noise added to the latent whose strength decays
             quadratically to zero at 75% of the steps (the projector's
             exploration noise, in units of the latents' spread); starting
             from the space's start (z = 0, the prior's mean; w_avg in w
             and w+, where the projector starts)
  hybrid     the encoder's z as the start, then fewer optimisation steps
             (the "encoder initialisation" of In-Domain GAN inversion)

A `known` mask (1 = pixel known) restricts the pixel and perceptual losses
to the known pixels: the same optimisation fills a masked region
(inpainting).
"""

import dataclasses

import jax
import jax.numpy as jnp
import optax

from cnnjax.editing import perceptual

METHODS = ("encoder", "optimize", "hybrid")


@dataclasses.dataclass(frozen=True)
class Settings:
  """What the optimisation does; the defaults are the ones the write-up
  measured (experiments/2026-12-02-inversion)."""
  steps: int = 200
  lr: float = 0.05
  pixel_weight: float = 1.0
  perceptual_weight: float = 1.0
  prior_weight: float = 0.01
  noise: float = 0.05  # initial noise std, in units of the latents' std
  noise_ramp: float = 0.75  # fraction of the steps until the noise is 0
  lr_rampup: float = 0.05
  lr_rampdown: float = 0.25


def learning_rate(settings: Settings, step: jax.Array) -> jax.Array:
  """StyleGAN2-ADA projector's schedule: linear ramp-up, cosine ramp-down."""
  t = step / settings.steps
  down = jnp.minimum(1.0, (1.0 - t) / settings.lr_rampdown)
  down = 0.5 - 0.5 * jnp.cos(down * jnp.pi)
  up = jnp.minimum(1.0, t / settings.lr_rampup)
  return settings.lr * down * up


def z_prior(z):
  """The shell regulariser of z ~ N(0, I): (mean(z^2) - 1)^2 per row."""
  return (jnp.mean(z ** 2, axis=-1) - 1.0) ** 2


def make_optimizer(generate, net, layers: tuple[str, ...],
                   settings: Settings, prior=z_prior,
                   spread: float = 1.0):
  """optimize(gen_weights, net_weights, images, labels, z0, known, key) ->
  (z [B, d], per-image final loss [B]); pure, for jax.jit.

  `generate(gen_weights, z, labels)` is the generator (z: a latent in its
  space); `prior(z)` the per-row regulariser of that space
  (`spaces.Space.prior`); `spread` the latents' standard deviation per
  coordinate (1 for z), the unit of the step size and the exploration
  noise; `known` is
  [B, R, R, 1] (1 = known pixel), all ones for plain inversion.
  """
  adam = optax.scale_by_adam()

  def losses(gen_weights, net_weights, z, images, labels, known):
    x = generate(gen_weights, z, labels)
    share = jnp.mean(known, axis=(1, 2, 3))
    pixel = jnp.mean(known * (x - images) ** 2, axis=(1, 2, 3)) / share
    # Both images see the same mask, so hidden pixels cannot differ.
    percept = perceptual.distance(net, net_weights, x * known,
                                  images * known, layers)
    return (settings.pixel_weight * pixel + settings.perceptual_weight *
            percept + settings.prior_weight * prior(z))

  def optimize(gen_weights, net_weights, images, labels, z0, known, key):
    def step(carry, index):
      z, state = carry
      strength = spread * settings.noise * jnp.maximum(
          0.0, 1.0 - index / (settings.noise_ramp * settings.steps)) ** 2
      noise = strength * jax.random.normal(jax.random.fold_in(key, index),
                                           z.shape)
      grads = jax.grad(lambda z: jnp.sum(losses(
          gen_weights, net_weights, z + noise, images, labels, known)))(z)
      updates, state = adam.update(grads, state)
      z = z - spread * learning_rate(settings, index) * updates
      return (z, state), None

    (z, _), _ = jax.lax.scan(step, (z0, adam.init(z0)),
                             jnp.arange(settings.steps))
    return z, losses(gen_weights, net_weights, z, images, labels, known)

  return optimize


def ones_mask(images) -> jax.Array:
  return jnp.ones((*images.shape[:3], 1), images.dtype)

