"""GAN losses as pure functions of discriminator logits.

LOSSES[name] = (discriminator_loss(real_logits, fake_logits),
                generator_loss(fake_logits)); all are means over the batch so
the gradient scale does not depend on the batch size.
"""

import jax
import jax.numpy as jnp


def non_saturating_discriminator(real_logits: jax.Array,
                                 fake_logits: jax.Array) -> jax.Array:
  """-log sigmoid(D(x)) - log(1 - sigmoid(D(G(z)))), averaged (Goodfellow et
  al. 2014)."""
  return (jnp.mean(jax.nn.softplus(-real_logits)) +
          jnp.mean(jax.nn.softplus(fake_logits)))


def non_saturating_generator(fake_logits: jax.Array) -> jax.Array:
  """-log sigmoid(D(G(z))): the generator loss that does not saturate early."""
  return jnp.mean(jax.nn.softplus(-fake_logits))


def hinge_discriminator(real_logits: jax.Array,
                        fake_logits: jax.Array) -> jax.Array:
  """max(0, 1 - D(x)) + max(0, 1 + D(G(z))) (Lim & Ye 2017; SNGAN, BigGAN)."""
  return (jnp.mean(jax.nn.relu(1.0 - real_logits)) +
          jnp.mean(jax.nn.relu(1.0 + fake_logits)))


def hinge_generator(fake_logits: jax.Array) -> jax.Array:
  """-D(G(z)): the generator side of the hinge loss."""
  return -jnp.mean(fake_logits)


def wasserstein_discriminator(real_logits: jax.Array,
                              fake_logits: jax.Array) -> jax.Array:
  """D(G(z)) - D(x): the critic's loss (Arjovsky et al. 2017); it needs a
  Lipschitz constraint such as the gradient penalty."""
  return jnp.mean(fake_logits) - jnp.mean(real_logits)


def wasserstein_generator(fake_logits: jax.Array) -> jax.Array:
  return -jnp.mean(fake_logits)


def least_squares_discriminator(real_logits: jax.Array,
                                fake_logits: jax.Array) -> jax.Array:
  """1/2 (D(x) - 1)^2 + 1/2 D(G(z))^2: LSGAN with a = 0, b = c = 1 (Mao et al.
  2017, eq. 2)."""
  return 0.5 * (jnp.mean((real_logits - 1.0) ** 2) + jnp.mean(fake_logits**2))


def least_squares_generator(fake_logits: jax.Array) -> jax.Array:
  return 0.5 * jnp.mean((fake_logits - 1.0) ** 2)


LOSSES = {
    "non_saturating": (non_saturating_discriminator, non_saturating_generator),
    "hinge": (hinge_discriminator, hinge_generator),
    "wasserstein": (wasserstein_discriminator, wasserstein_generator),
    "least_squares": (least_squares_discriminator, least_squares_generator),
}
