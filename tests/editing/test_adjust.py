"""Global adjustments (cnnjax.editing.adjust) against numpy computations of
their definitions, their exact inverses, chunked application at any size,
scikit-image's baselines, and the enhancer network's start at identity."""

import jax
import numpy as np
import pytest
from flax import nnx

from cnnjax import models
from cnnjax.editing import adjust, enhance
from cnnjax.models import enhancer

K = adjust.CURVE_KNOTS
LUMA = np.array([0.299, 0.587, 0.114])


def vector(exposure=0.0, red=0.0, blue=0.0, contrast=0.0, saturation=0.0,
           curve=None):
  curve = np.zeros(K) if curve is None else np.asarray(curve)
  return np.concatenate([[exposure, red, blue, contrast, saturation],
                         curve]).astype(np.float32)


def np_curve(x, logits):
  """The curve through (k/K, cumulative softmax) by linear interpolation."""
  rises = np.exp(logits - np.max(logits))
  knots = np.concatenate([[0.0], np.cumsum(rises / rises.sum())])
  return np.interp(np.clip(x, 0, 1), np.linspace(0, 1, K + 1), knots)


def np_correct(x, p):
  gains = 2.0 ** np.array([p[1], 0.0, p[2]])
  x = x * gains / (gains @ LUMA)
  x = x * 2.0 ** p[0]
  x = 0.5 + (x - 0.5) * 2.0 ** p[3]
  grey = (x @ LUMA)[..., None]
  x = grey + (x - grey) * 2.0 ** p[4]
  return np_curve(x, p[5:])


def np_degrade(x, p):
  x = np_curve(x, p[5:])
  grey = (x @ LUMA)[..., None]
  x = grey + (x - grey) * 2.0 ** p[4]
  x = 0.5 + (x - 0.5) * 2.0 ** p[3]
  x = x * 2.0 ** p[0]
  gains = 2.0 ** np.array([p[1], 0.0, p[2]])
  return np.clip(x * gains / (gains @ LUMA), 0, 1)


@pytest.fixture
def pixels():
  return np.random.default_rng(0).uniform(0, 1, (6, 5, 3)).astype(np.float32)


def test_zero_parameters_are_the_identity(pixels):
  zero = np.zeros(adjust.NUM_PARAMS, np.float32)
  np.testing.assert_allclose(adjust.correct(pixels, zero), pixels, atol=1e-6)
  np.testing.assert_allclose(adjust.degrade(pixels, zero), pixels, atol=1e-6)


@pytest.mark.parametrize("params", [
    {"exposure": 0.7}, {"exposure": -1.3}, {"red": 0.4, "blue": -0.2},
    {"contrast": 0.8}, {"contrast": -0.9}, {"saturation": 1.1},
    {"saturation": -2.0}, {"curve": np.linspace(-1, 1, K)},
    {"exposure": -0.4, "red": -0.3, "blue": 0.5, "contrast": 0.3,
     "saturation": -0.5, "curve": np.random.default_rng(1).normal(0, 0.5, K)}])
def test_each_adjustment_and_their_composition_match_numpy(pixels, params):
  p = vector(**params)
  np.testing.assert_allclose(adjust.correct(pixels, p),
                             np_correct(pixels.astype(np.float64), p),
                             atol=2e-6)
  np.testing.assert_allclose(adjust.degrade(pixels, p),
                             np_degrade(pixels.astype(np.float64), p),
                             atol=2e-6)


def test_white_balance_keeps_grey_brightness_and_saturation_keeps_luma():
  grey = np.full((1, 1, 3), 0.4, np.float32)
  balanced = np.asarray(adjust.white_balance(grey, np.array([0.5, -0.7])))
  assert balanced[0, 0] @ LUMA == pytest.approx(0.4, abs=1e-6)
  assert balanced[0, 0, 0] > 0.4 > balanced[0, 0, 2]  # warmer
  colour = np.array([[0.9, 0.2, 0.1]], np.float32)
  for stops in (-3.0, -0.5, 0.8):
    out = np.asarray(adjust.saturation(colour, stops))
    assert out @ LUMA == pytest.approx(colour @ LUMA, abs=1e-6)
  assert np.ptp(np.asarray(adjust.saturation(colour, -30.0))) < 1e-6


def test_tone_curves_are_monotone_and_fix_black_and_white():
  x = np.linspace(-0.2, 1.2, 1401, dtype=np.float32)[:, None].repeat(3, 1)
  for seed in range(5):
    logits = np.random.default_rng(seed).normal(0, 2.0, K).astype(np.float32)
    y = np.asarray(adjust.tone_curve(x, logits))
    assert (np.diff(y[:, 0]) >= -1e-7).all()
    assert y[0, 0] == pytest.approx(0.0, abs=1e-7)
    assert y[-1, 0] == pytest.approx(1.0, abs=1e-6)
    np.testing.assert_allclose(
        adjust.curve_knot_values(logits),
        adjust.tone_curve(np.linspace(0, 1, K + 1)[:, None], logits)[:, 0],
        atol=1e-6)


def test_inverse_parameters_undo_a_degradation():
  rng = np.random.default_rng(2)
  # Mid-tones and mild settings: nothing clips, so the inverse is exact.
  x = rng.uniform(0.35, 0.6, (8, 8, 3)).astype(np.float32)
  p = vector(exposure=0.3, red=-0.2, blue=0.25, contrast=-0.4,
             saturation=0.3)
  restored = adjust.correct(adjust.degrade(x, p), adjust.inverse(p))
  np.testing.assert_allclose(restored, x, atol=2e-6)
  # A tone curve's inverse is approximated by its interpolant at the knots.
  p = vector(exposure=-0.3, red=0.1, contrast=0.2,
             curve=rng.normal(0, 0.3, K))
  restored = adjust.correct(adjust.degrade(x, p), adjust.inverse(p))
  assert np.abs(np.asarray(restored) - x).max() < 0.01
  batch = np.stack([p, vector(exposure=0.5)])
  np.testing.assert_allclose(adjust.inverse(batch)[1],
                             adjust.inverse(vector(exposure=0.5)), atol=1e-9)


def test_sampled_degradations_stay_in_their_ranges():
  ranges = {"exposure": 1.0, "white_balance": 0.4, "contrast": 0.7,
            "saturation": 0.2, "curve": 0.0}
  params = np.asarray(adjust.sample(jax.random.PRNGKey(0), (500,), ranges))
  assert params.shape == (500, adjust.NUM_PARAMS)
  limits = [1.0, 0.4, 0.4, 0.7, 0.2]
  for index, limit in enumerate(limits):
    assert np.abs(params[:, index]).max() <= limit
    assert np.abs(params[:, index]).max() > 0.9 * limit
  np.testing.assert_array_equal(params[:, 5:], 0.0)
  named = adjust.named(params[0])
  assert set(named) == {"exposure", "white_balance", "contrast", "saturation",
                        "tone_curve"}
  assert named["tone_curve"][0] == 0.0 and named["tone_curve"][-1] == 1.0
  assert len(named["tone_curve"]) == K + 1


def test_map_pixels_in_chunks_matches_the_whole_image(monkeypatch):
  image = np.random.default_rng(3).integers(0, 256, (70, 90, 3), np.uint8)
  p = vector(exposure=0.4, saturation=0.5, curve=np.linspace(0.5, -0.5, K))
  whole = np_correct(image / 255.0, p)
  monkeypatch.setattr(enhance, "CHUNK_PIXELS", 1024)  # 7 chunks, padded last
  monkeypatch.setattr(enhance, "MIN_CHUNK_PIXELS", 1024)
  floats = enhance.map_pixels(adjust.correct, image, p, to_uint8=False)
  np.testing.assert_allclose(floats, whole, atol=2e-6)
  rounded = enhance.map_pixels(adjust.correct, image, p)
  assert rounded.dtype == np.uint8
  assert np.abs(rounded - np.rint(whole * 255)).max() <= 1


def test_rescale_intensity_baselines_stretch_percentiles():
  image = np.random.default_rng(4).uniform(0.2, 0.7, (40, 30, 3))
  image[..., 2] *= 0.5  # a blue-poor cast
  low, high = np.percentile(image, (2, 98))
  np.testing.assert_allclose(enhance.rescale_intensity(image),
                             np.clip((image - low) / (high - low), 0, 1))
  per_channel = enhance.rescale_intensity(image, per_channel=True)
  for c in range(3):
    low, high = np.percentile(image[..., c], (2, 98))
    np.testing.assert_allclose(per_channel[..., c],
                               np.clip((image[..., c] - low) / (high - low),
                                       0, 1))
  out = enhance.equalize_adapthist(image)
  assert out.shape == image.shape and 0 <= out.min() and out.max() <= 1


def test_enhancer_histograms_count_values_into_their_nearest_bins():
  # Values 0, 0.5 and 1 of [0, 1] sit on centres of 5 bins; 0.125 halfway
  # between the first two.
  values01 = np.array([0.0, 0.5, 1.0, 0.125])
  image = np.stack([values01] * 3, axis=-1)[None, None] * 2 - 1  # [1,1,4,3]
  counts = np.asarray(enhancer.histograms(image, 5)).reshape(4, 5)
  expected = np.array([1.5, 0.5, 1.0, 0.0, 1.0]) / 4
  for channel in range(4):  # R, G, B and luma (of a grey: the same)
    np.testing.assert_allclose(counts[channel], expected, atol=1e-6)


def test_enhancer_network_takes_any_size():
  """Pooled features: one network for training crops and squashed photos
  of any shape (shapes only; that it starts at the identity is the task's
  first-loss test)."""
  section = models.network_config("enhancer", "cnn", base_width=4,
                                  num_levels=3, hidden_dim=8,
                                  histogram_bins=4)

  def outputs(images):
    return models.build("enhancer", section, resolution=32, channels=3,
                        num_outputs=adjust.NUM_PARAMS,
                        rngs=nnx.Rngs(0))(images)

  for shape in ((2, 32, 32, 3), (1, 45, 70, 3)):
    out = jax.eval_shape(outputs, jax.ShapeDtypeStruct(shape, np.float32))
    assert out.shape == (shape[0], adjust.NUM_PARAMS)
