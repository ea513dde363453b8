"""The encoder families: latents of the generator's size at every
resolution, z = 0 before training (the zero head), and each image's code
independent of the rest of its batch (group norm, not batch norm)."""

import jax
import numpy as np
import pytest
from flax import nnx

from cnnjax import models


@pytest.mark.parametrize("family", ["dcgan", "resnet"])
@pytest.mark.parametrize("resolution,channels", [(28, 1), (32, 1), (64, 3)])
def test_encoder_shapes_start_and_batch_independence(family, resolution,
                                                     channels):
  section = models.network_config("encoder", family, latent_dim=12,
                                  base_width=8)
  encoder = models.build("encoder", section, resolution=resolution,
                         channels=channels, rngs=nnx.Rngs(0))
  images = jax.random.uniform(jax.random.PRNGKey(1),
                              (4, resolution, resolution, channels),
                              minval=-1, maxval=1)
  codes = encoder(images)
  assert codes.shape == (4, 12)
  np.testing.assert_array_equal(np.asarray(codes), 0.0)
  # With a trained-like (random) head, one image's code is the same alone
  # and in a batch.
  head = encoder.to_latent
  head.kernel[...] = jax.random.normal(jax.random.PRNGKey(2),
                                       head.kernel[...].shape)
  batch = np.asarray(encoder(images))
  alone = np.asarray(encoder(images[2:3]))
  assert np.abs(batch).max() > 0
  np.testing.assert_allclose(alone[0], batch[2], rtol=1e-5, atol=1e-5)
  # Other images change the batch, not image 2's code.
  other = images.at[0].set(-images[0])
  np.testing.assert_allclose(np.asarray(encoder(other))[2], batch[2],
                             rtol=1e-5, atol=1e-5)
