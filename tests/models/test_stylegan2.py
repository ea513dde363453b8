"""StyleGAN2's operations against independent computations: modulated
convolution against per-sample convolutions with scaled kernels, FIR
resampling and minibatch stddev against numpy, path lengths against the
Jacobian, equalised learning rate, truncation, noise and style mixing."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx

from cnnjax.models import style_ops as ops
from cnnjax.models import stylegan2
from cnnjax import regularizers

DIMS = ("NHWC", "HWIO", "NHWC")


def _per_sample(x, weight, styles, demodulate, padding):
  """Sample by sample: the kernel scaled by the sample's styles (and each
  output channel divided by its norm), then an ordinary convolution."""
  out = []
  for n in range(x.shape[0]):
    w = weight * styles[n][None, None, :, None]
    if demodulate:
      w = w / jnp.sqrt(jnp.sum(w ** 2, axis=(0, 1, 2), keepdims=True) + 1e-8)
    out.append(jax.lax.conv_general_dilated(
        x[n:n + 1], w, (1, 1), padding, dimension_numbers=DIMS)[0])
  return jnp.stack(out)


@pytest.mark.parametrize("fused", [False, True])
@pytest.mark.parametrize("demodulate,kernel,padding",
                         [(True, 3, "SAME"), (True, 3, "VALID"),
                          (False, 1, "SAME")])
def test_modulated_conv_is_a_per_sample_conv(fused, demodulate, kernel,
                                             padding):
  keys = jax.random.split(jax.random.PRNGKey(0), 4)
  x = jax.random.normal(keys[0], (3, 6, 6, 5))
  weight = jax.random.normal(keys[1], (kernel, kernel, 5, 4))
  styles = 1.0 + 0.5 * jax.random.normal(keys[2], (3, 5))
  probe = jax.random.normal(keys[3], _per_sample(
      x, weight, styles, demodulate, padding).shape)
  ours = lambda *a: jnp.sum(probe * ops.modulated_conv(
      *a, demodulate=demodulate, fused=fused, padding=padding))
  reference = lambda *a: jnp.sum(probe * _per_sample(*a, demodulate,
                                                     padding))
  np.testing.assert_allclose(
      ops.modulated_conv(x, weight, styles, demodulate, fused, padding),
      _per_sample(x, weight, styles, demodulate, padding),
      rtol=1e-4, atol=1e-5)
  for a, b in zip(jax.grad(ours, argnums=(0, 1, 2))(x, weight, styles),
                  jax.grad(reference, argnums=(0, 1, 2))(x, weight, styles)):
    np.testing.assert_allclose(a, b, rtol=1e-3, atol=1e-4)


def test_demodulation_gives_unit_variance():
  keys = jax.random.split(jax.random.PRNGKey(1), 3)
  x = jax.random.normal(keys[0], (4, 16, 16, 128))
  weight = jax.random.normal(keys[1], (3, 3, 128, 64)) * 7.0  # any scale
  styles = jnp.exp(jax.random.normal(keys[2], (4, 128)))  # uneven styles
  y = ops.modulated_conv(x, weight, styles)[:, 1:-1, 1:-1]  # no border
  variance = jnp.var(y, axis=(1, 2))  # per sample and output channel
  assert 0.85 < float(jnp.mean(variance)) < 1.15
  assert float(jnp.max(jnp.abs(jnp.log(variance)))) < 0.6
  # Without demodulation the scale of the styles and kernel comes through.
  plain = ops.modulated_conv(x, weight, styles, demodulate=False)
  assert float(jnp.var(plain)) > 100


def _upfirdn(x, up, down, pad0, pad1, gain):
  """numpy upfirdn2d with the [1,3,3,1] filter, per image and channel."""
  f = np.outer(ops.FIR, ops.FIR)
  f = f / f.sum() * gain
  n, h, w, c = x.shape
  u = np.zeros((n, h * up, w * up, c), np.float64)
  u[:, ::up, ::up] = x
  u = np.pad(u, ((0, 0), (pad0, pad1), (pad0, pad1), (0, 0)))
  oh, ow = u.shape[1] - 3, u.shape[2] - 3
  out = np.zeros((n, oh, ow, c))
  for i in range(oh):
    for j in range(ow):
      out[:, i, j] = np.einsum("nabc,ab->nc", u[:, i:i + 4, j:j + 4], f)
  return out[:, ::down, ::down]


def test_fir_resampling_matches_upfirdn():
  x = np.random.default_rng(0).standard_normal((2, 6, 6, 3)).astype(
      np.float32)
  np.testing.assert_allclose(ops.upsample2d(jnp.asarray(x)),
                             _upfirdn(x, 2, 1, 2, 1, 4.0), atol=1e-5)
  np.testing.assert_allclose(ops.upsample2d(jnp.asarray(x), pad=1),
                             _upfirdn(x, 2, 1, 3, 2, 4.0), atol=1e-5)
  np.testing.assert_allclose(ops.downsample2d(jnp.asarray(x)),
                             _upfirdn(x, 1, 2, 1, 1, 1.0), atol=1e-5)
  # A constant image stays constant away from the borders.
  ones = ops.upsample2d(jnp.ones((1, 6, 6, 1)))
  np.testing.assert_allclose(ones[0, 2:-2, 2:-2], 1.0, atol=1e-6)


def test_minibatch_stddev_matches_numpy():
  x = np.random.default_rng(1).standard_normal((8, 4, 4, 6)).astype(
      np.float32)
  y = np.asarray(ops.minibatch_stddev(jnp.asarray(x), group_size=4,
                                      num_channels=2))
  assert y.shape == (8, 4, 4, 8)
  np.testing.assert_array_equal(y[..., :6], x)
  for n in range(8):
    members = x[n % 2::2]  # group size 4: samples n mod 2 apart by 2
    std = np.sqrt(members.var(axis=0) + 1e-8)  # [4, 4, 6]
    for f in range(2):
      expected = std[..., 3 * f:3 * f + 3].mean()
      np.testing.assert_allclose(y[n, ..., 6 + f], expected, rtol=1e-5)


def test_equalized_learning_rate():
  """Stored weights are N(0, 1) / lr_mul; the layer uses them times lr_mul /
  sqrt(fan_in), so Adam's first step (about lr per stored weight) moves the
  effective weights by lr * lr_mul / sqrt(fan_in), whatever the stored
  scale."""
  x = jax.random.normal(jax.random.PRNGKey(2), (16, 64))
  moves = {}
  for lr_mul in (1.0, 0.01):
    layer = ops.EqualizedLinear(64, 32, lr_mul=lr_mul, bias_init=0.5,
                                rngs=nnx.Rngs(0))
    stored = layer.weight[...]
    np.testing.assert_allclose(jnp.std(stored) * lr_mul, 1.0, rtol=0.05)
    np.testing.assert_allclose(
        layer(x), x @ (stored * lr_mul / 8.0) + 0.5, rtol=1e-5, atol=1e-5)
    graph, params = nnx.split(layer)
    loss = lambda p: jnp.sum(nnx.merge(graph, p)(x) ** 2)
    optimizer = optax.adam(1e-3)
    updates, _ = optimizer.update(jax.grad(loss)(params),
                                  optimizer.init(params), params)
    moved = nnx.merge(graph, optax.apply_updates(params, updates))
    moves[lr_mul] = float(jnp.median(jnp.abs(
        moved.weight[...] - stored))) * lr_mul / 8.0
  np.testing.assert_allclose(moves[1.0], 1e-3 / 8.0, rtol=1e-3)
  np.testing.assert_allclose(moves[0.01] / moves[1.0], 0.01, rtol=1e-3)


def _generator(**fields):
  config = dict(latent_dim=8, w_dim=8, mapping_layers=2, channel_base=64,
                channel_max=8, resolution=16, channels=1, rngs=nnx.Rngs(0))
  return stylegan2.Generator(**{**config, **fields})


def test_truncation_zero_gives_w_avg_and_shapes():
  g = _generator(num_classes=3)
  assert g.num_ws == 6  # 4: 1 conv; 8, 16: 2 each; the last toRGB
  z = jax.random.normal(jax.random.PRNGKey(3), (4, 8))
  labels = jnp.array([0, 1, 2, 0])
  g.mapping_network.w_avg[...] = jnp.arange(8.0)
  np.testing.assert_allclose(g.mapping(z, labels, truncation=0.0),
                             np.tile(np.arange(8.0), (4, 1)), atol=1e-6)
  w = g.mapping(z, labels)
  half = g.mapping(z, labels, truncation=0.5)
  np.testing.assert_allclose(half, jnp.arange(8.0) + 0.5 * (w - jnp.arange(
      8.0)), atol=1e-5)
  images = g(z, labels, train=False)
  assert images.shape == (4, 16, 16, 1)
  # Training moves w_avg toward the batch's mean w (beta 0.995).
  before = g.w_avg
  g(z, labels, train=True)
  np.testing.assert_allclose(g.w_avg, jnp.mean(w, 0) + 0.995 * (
      before - jnp.mean(w, 0)), rtol=1e-5, atol=1e-6)


def test_noise_modes():
  g = _generator()
  g.blocks[1].convs[0].noise_strength[...] = jnp.asarray(1.0)
  z = jax.random.normal(jax.random.PRNGKey(4), (2, 8))
  twice = jnp.concatenate([z, z])
  ws = g.styles(twice)
  # random: the same for the same latent, wherever it is in the batch...
  random = g.synthesis(ws, "random", latents=twice)
  np.testing.assert_array_equal(random[:2], random[2:])
  np.testing.assert_allclose(g.synthesis(g.styles(z[::-1]), "random",
                                         latents=z[::-1])[0], random[1],
                             atol=1e-6)
  # ... and another for another latent (the same styles, other noise).
  same_styles = g.styles(jnp.stack([z[0], z[0]]))
  other = g.synthesis(same_styles, "random", latents=z)
  assert float(jnp.max(jnp.abs(other[0] - other[1]))) > 1e-3
  const, none = g.synthesis(ws, "const"), g.synthesis(ws, "none")
  assert float(jnp.max(jnp.abs(const - none))) > 1e-3
  assert float(jnp.max(jnp.abs(random - const))) > 1e-3
  # With the noise strengths at 0 (initialisation) the modes agree.
  g.blocks[1].convs[0].noise_strength[...] = jnp.asarray(0.0)
  np.testing.assert_allclose(g.synthesis(ws, "const"),
                             g.synthesis(ws, "none"), atol=1e-6)


def test_style_mixing_takes_the_second_latent_from_a_cutoff():
  g = _generator(style_mixing=1.0)
  z = jax.random.normal(jax.random.PRNGKey(5), (16, 8))
  plain = g.styles(z)
  mixed = g.styles(z, key=jax.random.PRNGKey(6), train=True)
  for n in range(16):
    same = np.all(np.isclose(mixed[n], plain[n], atol=1e-6), axis=1)
    cutoff = int(np.argmin(same))
    assert 1 <= cutoff < g.num_ws and same[:cutoff].all()
    assert not same[cutoff:].any()
    # After the cutoff all layers share one other w.
    np.testing.assert_allclose(mixed[n, cutoff:], np.broadcast_to(
        mixed[n, cutoff], mixed[n, cutoff:].shape))


def test_path_lengths_match_the_jacobian():
  g = _generator()
  for block in g.blocks:  # noise on, so its key must be held fixed
    for conv in block.convs:
      conv.noise_strength[...] = jnp.asarray(0.3)
  ws = g.styles(jax.random.normal(jax.random.PRNGKey(7), (2, 8)))
  noise_key, y_key = jax.random.PRNGKey(8), jax.random.PRNGKey(9)
  synthesis = lambda w: g.synthesis(w, key=noise_key)
  lengths = regularizers.path_lengths(synthesis, ws, y_key)
  images = synthesis(ws)
  y = jax.random.normal(y_key, images.shape) / 16.0  # sqrt(16 * 16)
  jacobian = jax.jacfwd(synthesis)(ws)  # [2, 16, 16, 1, 2, num_ws, w_dim]
  for n in range(2):
    grad = np.einsum("hwc,hwclk->lk", np.asarray(y[n]),
                     np.asarray(jacobian[n, :, :, :, n]))
    expected = np.sqrt(np.mean(np.sum(grad ** 2, axis=1)))
    np.testing.assert_allclose(lengths[n], expected, rtol=1e-4)
    # Samples do not see each other: the cross-sample block is zero.
    assert float(jnp.max(jnp.abs(jacobian[n, :, :, :, 1 - n]))) == 0


def test_discriminator_shapes_and_projection():
  d = stylegan2.Discriminator(channel_base=64, channel_max=8, mbstd_group=2,
                              mapping_layers=1, resolution=16, channels=3,
                              num_classes=4, rngs=nnx.Rngs(0))
  x = jax.random.normal(jax.random.PRNGKey(10), (4, 16, 16, 3))
  logits = d(x, jnp.array([0, 1, 2, 3]))
  assert logits.shape == (4,) and logits.dtype == jnp.float32
  other = d(x, jnp.array([1, 1, 2, 3]))
  assert float(jnp.abs(other[0] - logits[0])) > 1e-6
  np.testing.assert_allclose(other[1:], logits[1:], rtol=1e-5)


def test_config_problems_are_named():
  problems = stylegan2.Generator.config_problems(
      {"latent_dim": 8, "w_dim": 8, "mapping_layers": 2, "channel_base": 64,
       "channel_max": 8, "mapping_lr_mul": 0.01, "style_mixing": 1.5,
       "w_avg_beta": 0.995, "noise_mode": "rand"}, 28)
  text = " ".join(problems)
  assert "power of two" in text and "style_mixing" in text
  assert "noise_mode" in text


def test_configs_resolve_and_a_width_variant_is_refused():
  from cnnjax import tasks
  from cnnjax.errors import ConfigError
  from tests.conftest import load_config
  for arg, resolution, channels in (("fashion_mnist", 32, 1),
                                    ("rgb128", 128, 3),
                                    ("digits,cond,tiny", 32, 1)):
    config = load_config("stylegan2", arg)
    if arg == "rgb128":
      config.data.name = "folder:/photos"
    tasks.get("gan").validate(config, num_devices=8)
    assert (config.data.resolution, config.data.channels) == (resolution,
                                                               channels)
  assert load_config("stylegan2", "rgb128").train.batch_size == 32
  assert load_config("stylegan2", "digits,cond,tiny").model.num_classes == 10
  with pytest.raises(ConfigError, match="channel_base"):
    load_config("stylegan2", "fashion_mnist,width=64")
