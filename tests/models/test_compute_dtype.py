"""model.compute_dtype=bfloat16: the networks compute in bfloat16 (no silent
promotion back to float32), while parameters, buffers, outputs and the
whole train state stay float32, and the outputs stay close to float32's."""

import jax
import jax.extend  # noqa: F401  (jax.extend.core.jaxprs_in_params)
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from cnnjax import runs
from cnnjax.tasks.gan import state as gan_state
from cnnjax.train import loop
from tests.conftest import load_config

FAMILIES = [("dcgan", {}), ("mlp_gan", {}), ("sngan", {}),
            ("cgan", {}), ("wgan_gp", {})]


def _models(name, dtype):
  config = load_config(name, "tiny")
  config.model.compute_dtype = dtype
  return config, gan_state.build_networks(config, seed=0)


def _inputs(config, batch=8):
  z = jax.random.normal(jax.random.PRNGKey(1),
                        (batch, config.model.generator.latent_dim))
  labels = (jnp.arange(batch) % config.model.num_classes
            if config.model.num_classes else None)
  return z, labels


@pytest.mark.parametrize("name,_", FAMILIES)
def test_bfloat16_models_keep_float32_parameters_and_outputs(name, _):
  config, (g32, d32) = _models(name, "float32")
  _, (g16, d16) = _models(name, "bfloat16")
  for a, b in ((g32, g16), (d32, d16)):
    for x, y in zip(jax.tree.leaves(nnx.state(a)), jax.tree.leaves(nnx.state(b))):
      assert y.dtype == x.dtype  # parameters and buffers keep their dtype
      np.testing.assert_array_equal(x, y)  # the same initialisation
  z, labels = _inputs(config)
  images32 = g32(z, labels, train=False)
  images16 = g16(z, labels, train=False)
  assert images16.dtype == jnp.float32
  np.testing.assert_allclose(images16, images32, atol=0.05)
  logits32, logits16 = d32(images32, labels, train=False), d16(images32, labels,
                                                                train=False)
  assert logits16.dtype == jnp.float32
  # Within 10% of the logits' scale: the layers agree to about 0.5% each
  # (bfloat16 keeps 8 bits), and sum pooling then a dense layer can cancel.
  scale = float(jnp.max(jnp.abs(logits32))) + 1e-3
  np.testing.assert_allclose(logits16, logits32, atol=0.1 * scale)


@pytest.mark.parametrize("name", ["dcgan", "sngan"])
def test_convolutions_and_matmuls_really_run_in_bfloat16(name):
  config, (generator, discriminator) = _models(name, "bfloat16")
  z, labels = _inputs(config, batch=5)  # 5: no weight matrix has 5 rows
  images = generator(z, labels, train=False)

  def activation_ops(fn, *args):
    """(primitive, dtype) of every convolution, and of every matmul over
    the batch (spectral norm's power iteration on the float32 weights is
    excluded: its matrix-vector products are not on activations)."""
    found = []

    def visit(jaxpr):
      for eqn in jaxpr.eqns:
        name = eqn.primitive.name
        operand = eqn.invars[0].aval
        if name == "conv_general_dilated" or (
            name == "dot_general" and operand.ndim >= 2 and
            operand.shape[0] == 5):
          found.append((name, operand.dtype))
        for sub in jax.extend.core.jaxprs_in_params(eqn.params):
          visit(sub)

    visit(jax.make_jaxpr(fn)(*args).jaxpr)
    return found

  for ops in (activation_ops(lambda z: generator(z, labels, train=False), z),
              activation_ops(lambda x: discriminator(x, labels, train=False),
                             images)):
    assert len(ops) >= 4, ops
    assert all(dtype == jnp.bfloat16 for _, dtype in ops), ops


@pytest.mark.slow
def test_a_bfloat16_run_trains_and_keeps_a_float32_state(tmp_path):
  config = load_config("sngan", "tiny")
  config.model.compute_dtype = "bfloat16"
  config.train.num_steps = 2  # one device: one program, the cheapest
  result = loop.train_and_evaluate(config, str(tmp_path),
                                   devices=jax.devices()[:1])
  assert result["step"] == 2
  state = runs.load(str(tmp_path)).state
  for leaf in jax.tree.leaves(state):
    assert leaf.dtype != jnp.bfloat16
