"""Gatys style transfer: the losses against numpy, and the optimisation on
a tiny two-block stand-in for VGG (its layers named as VGG's)."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from cnnjax.editing import style
from cnnjax.editing import style_losses as losses
from cnnjax.errors import UserError
from cnnjax.nets.base import FeatureNet

LAYERS = ("conv1_1", "relu1_1", "pool1", "conv2_1", "relu2_1")


def tiny_net() -> FeatureNet:
  """Two random 3x3 convolutions with a max pooling between them."""
  rng = np.random.default_rng(0)
  weights = {"conv1_1": rng.normal(0, 0.4, (3, 3, 3, 8)).astype(np.float32),
             "conv2_1": rng.normal(0, 0.2, (3, 3, 8, 16)).astype(np.float32)}

  def conv(x, kernel):
    return jax.lax.conv_general_dilated(x, kernel, (1, 1), "SAME",
                                        dimension_numbers=("NHWC", "HWIO",
                                                           "NHWC"))

  def apply(weights, images, layers):
    out = {}
    out["conv1_1"] = conv(images, weights["conv1_1"])
    out["relu1_1"] = jax.nn.relu(out["conv1_1"])
    out["pool1"] = jax.lax.reduce_window(out["relu1_1"], -jnp.inf,
                                         jax.lax.max, (1, 2, 2, 1),
                                         (1, 2, 2, 1), "VALID")
    out["conv2_1"] = conv(out["pool1"], weights["conv2_1"])
    out["relu2_1"] = jax.nn.relu(out["conv2_1"])
    return {name: out[name] for name in layers}

  return FeatureNet(name="tiny", kind="tiny", digest="", weights=weights,
                    apply=apply, layers=LAYERS, features_layer="relu2_1",
                    logits_layer=None, num_classes=0, label_dataset=None,
                    input_description="a tiny stand-in for VGG")


SETTINGS = style.Settings(content_layers=("relu2_1",),
                          style_layers=("relu1_1", "relu2_1"),
                          style_weight=1e3, steps=8, learning_rate=0.05)


def images(count: int, size: int, seed: int) -> np.ndarray:
  """Smooth random colour images in [-1, 1] (noise would saturate YIQ)."""
  rng = np.random.default_rng(seed)
  coarse = rng.uniform(-0.8, 0.8, (count, size // 4, size // 4, 3))
  return np.repeat(np.repeat(coarse, 4, 1), 4, 2).astype(np.float32)


def test_gram_against_numpy():
  rng = np.random.default_rng(1)
  features = rng.normal(size=(5, 6, 4)).astype(np.float32)
  flat = features.reshape(-1, 4).astype(np.float64)
  np.testing.assert_allclose(losses.gram(jnp.asarray(features)),
                             flat.T @ flat / features.size, rtol=1e-5)
  # A mask of ones is no mask; a 0/1 mask is the Gram of its positions.
  ones = np.ones((5, 6), np.float32)
  np.testing.assert_allclose(losses.gram(features, ones),
                             losses.gram(features), rtol=1e-6)
  mask = rng.uniform(size=(5, 6)) < 0.4
  kept = flat[mask.ravel()]
  np.testing.assert_allclose(
      losses.gram(features, mask.astype(np.float32)),
      kept.T @ kept / (4 * len(kept)), rtol=1e-5)


def test_losses_against_numpy():
  rng = np.random.default_rng(2)
  x, target = rng.normal(size=(2, 7, 5, 3)).astype(np.float32)
  np.testing.assert_allclose(losses.content_layer_loss(x, target),
                             np.mean((x - target) ** 2), rtol=1e-5)
  # Style: the tutorial's mse of normalised Grams, and Gatys et al.'s
  # 1 / (4 N² M²) sum of squares of unnormalised ones.
  flat_x, flat_t = (a.reshape(-1, 3).astype(np.float64) for a in (x, target))
  big_x, big_t = flat_x.T @ flat_x, flat_t.T @ flat_t
  n, m = 3, 35
  tutorial = np.mean((big_x / (n * m) - big_t / (n * m)) ** 2)
  paper = np.sum((big_x - big_t) ** 2) / (4 * n ** 2 * m ** 2)
  target_gram = losses.gram(target)
  np.testing.assert_allclose(losses.style_layer_loss(x, target_gram),
                             tutorial, rtol=1e-5)
  np.testing.assert_allclose(
      losses.style_layer_loss(x, target_gram, norm="paper"), paper, rtol=1e-5)
  tv = (np.mean((x[1:] - x[:-1]) ** 2) + np.mean((x[:, 1:] - x[:, :-1]) ** 2))
  np.testing.assert_allclose(losses.total_variation(x), tv, rtol=1e-5)


def test_yiq_matches_the_ntsc_definition():
  rgb = np.random.default_rng(3).uniform(0, 1, (10, 3)).astype(np.float32)
  yiq = np.asarray(losses.to_yiq(rgb))
  r, g, b = rgb.T
  np.testing.assert_allclose(yiq[:, 0], 0.299 * r + 0.587 * g + 0.114 * b,
                             atol=1e-6)
  np.testing.assert_allclose(losses.from_yiq(yiq), rgb, atol=1e-6)
  # Any luminance with a content's chroma stays in the RGB cube.
  content = rgb * 2 - 1
  far = np.linspace(-3, 3, 10, dtype=np.float32)[:, None]
  out = np.asarray(losses.with_content_chroma(far, content))
  assert out.min() >= -1 - 1e-6 and out.max() <= 1 + 1e-6
  np.testing.assert_allclose(losses.to_yiq(out)[:, 1:],
                             losses.to_yiq(content)[:, 1:], atol=1e-6)


@pytest.mark.parametrize("optimizer", ["adam", "lbfgs"])
def test_steps_lower_the_loss(optimizer):
  net = tiny_net()
  settings = dataclasses.replace(SETTINGS, optimizer=optimizer)
  result = style.stylize(net, images(1, 32, 4), [images(1, 32, 5)[0]],
                         settings, devices=jax.devices()[:1])
  assert result.images.shape == (1, 32, 32, 3)
  assert np.abs(result.images).max() <= 1.0
  assert result.final["total"][0] < 0.5 * result.initial["total"][0]
  assert result.initial["content"][0] == 0  # it starts from the content
  assert result.history.shape == (1, 8)
  assert result.history[0, -1] < result.history[0, 0]


def test_batch_over_devices_equals_one_by_one():
  """Two images on two of the 8 fake devices, with L-BFGS (whose line
  search would mix images if they shared one). The one-device program is
  test_steps_lower_the_loss[lbfgs]'s (compiled once per session)."""
  assert jax.device_count() == 8
  net, styles = tiny_net(), [images(1, 32, 5)[0]]
  settings = dataclasses.replace(SETTINGS, optimizer="lbfgs")
  contents = images(2, 32, 6)
  batch = style.stylize(net, contents, styles, settings)
  assert batch.devices == 2
  for index in range(2):
    alone = style.stylize(net, contents[index:index + 1], styles, settings,
                          devices=jax.devices()[:1])
    np.testing.assert_allclose(batch.images[index], alone.images[0],
                               atol=2e-5)
    np.testing.assert_allclose(batch.final["total"][index],
                               alone.final["total"][0], rtol=1e-4)


def test_colour_preservation_keeps_the_content_chroma():
  content, style_image = images(1, 32, 8), images(1, 32, 9)[0]
  settings = dataclasses.replace(SETTINGS, preserve_color=True,
                                 init="noise", scales=2)
  result = style.stylize(tiny_net(), content, [style_image], settings,
                         devices=jax.devices()[:1])
  assert result.history.shape == (1, 16)  # 8 steps at 16 px, 8 at 32
  out = result.images[0]
  assert out.min() >= -1 - 1e-6 and out.max() <= 1 + 1e-6
  np.testing.assert_allclose(losses.to_yiq(out)[..., 1:],
                             losses.to_yiq(content[0])[..., 1:], atol=1e-5)
  # The luminance did change: the style was transferred.
  assert np.abs(losses.luminance(out) - losses.luminance(content[0])
                ).mean() > 0.01


def test_a_mask_keeps_the_style_to_its_region():
  content, style_image = images(1, 32, 10), images(1, 32, 11)[0]
  mask = np.zeros((1, 32, 32), np.float32)
  mask[:, :, 16:] = 1  # the right half
  result = style.stylize(tiny_net(), content, [style_image], SETTINGS,
                         masks=mask, devices=jax.devices()[:1])
  change = np.abs(result.images[0] - content[0]).mean(axis=(0, 2))
  assert change[16:].mean() > 0.01
  # Outside the mask the picture is the content's, exactly: no speckle.
  np.testing.assert_array_equal(result.images[0][:, :16], content[0][:, :16])
  with pytest.raises(UserError, match="one mask per style"):
    style.stylize(tiny_net(), content, [style_image], SETTINGS,
                  masks=mask[:, :16])


def test_devices_for_a_batch():
  devices = list(range(8))
  assert style.devices_for(1, devices) == ([0], 1)
  assert style.devices_for(2, devices) == ([0, 1], 2)
  assert style.devices_for(10, devices) == (list(range(5)), 10)
  assert style.devices_for(11, devices) == (list(range(6)), 12)
  assert style.devices_for(17, devices) == (list(range(6)), 18)


def test_bad_settings_are_refused():
  net = tiny_net()
  for field, value, fragment in [("style_layers", ("relu9_9",), "relu9_9"),
                                 ("optimizer", "sgd", "adam, lbfgs"),
                                 ("style_weights", (1.0, 2.0), "1 non-neg")]:
    settings = dataclasses.replace(SETTINGS, **{field: value})
    with pytest.raises(UserError, match=fragment):
      style.check(settings, net, num_styles=1)
  assert style.scale_sizes(40, 60, scales=3) == [(10, 15), (20, 30),
                                                 (40, 60)]
  with pytest.raises(UserError, match="at least 8 px"):
    style.scale_sizes(40, 60, scales=4)


def test_style_weights_weigh_the_style_images():
  """Weights 3:0 give the first style alone (they are normalised); the
  one-style program is test_steps_lower_the_loss[adam]'s."""
  net, devices = tiny_net(), jax.devices()[:1]
  content, first, second = images(1, 32, 4), images(1, 32, 5)[0], images(
      1, 24, 12)[0]
  alone = style.stylize(net, content, [first], SETTINGS, devices=devices)
  weighted = style.stylize(
      net, content, [first, second],
      dataclasses.replace(SETTINGS, style_weights=(3.0, 0.0)),
      devices=devices)
  np.testing.assert_allclose(weighted.images, alone.images, atol=1e-6)
  assert weighted.final["style"][0] == pytest.approx(alone.final["style"][0],
                                                     rel=1e-5)
