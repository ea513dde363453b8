"""GAN losses as pure functions of discriminator logits.

Each entry of LOSSES returns (discriminator_loss, generator_loss) helpers;
they are means over the batch so the gradient scale is batch-size free.
"""

import jax
import jax.numpy as jnp


def non_saturating_discriminator(real_logits: jax.Array,
                                 fake_logits: jax.Array) -> jax.Array:
  """-log sigmoid(D(x)) - log(1 - sigmoid(D(G(z)))), averaged (Goodfellow 2014)."""
  return (jnp.mean(jax.nn.softplus(-real_logits)) +
          jnp.mean(jax.nn.softplus(fake_logits)))


def non_saturating_generator(fake_logits: jax.Array) -> jax.Array:
  """-log sigmoid(D(G(z))): the generator loss that does not saturate early."""
  return jnp.mean(jax.nn.softplus(-fake_logits))


LOSSES = {
    "non_saturating": (non_saturating_discriminator, non_saturating_generator),
}
