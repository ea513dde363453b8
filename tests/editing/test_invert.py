"""Inversion and the optimised edits, against independent computations:
images a generator made are recovered; a linear generator's inpainting is
least squares; the counterfactual edit of a linear classifier stops just
past its decision boundary; one device or eight give the same latents."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from cnnjax import models, nets, sharding
from cnnjax.editing import edits, invert, perceptual
from cnnjax.editing import generator as generator_lib
from cnnjax.metrics import reconstruction
from cnnjax.models import variables
from cnnjax.nets.base import FeatureNet


@pytest.fixture(scope="module")
def net():
  return nets.load("classifier", dataset="digits", data_dir="/nonexistent")


@pytest.fixture(scope="module")
def resnet_generator():
  """A freshly initialised ResNet generator: its images vary with z (a
  fresh DCGAN's N(0, 0.02) weights draw nearly the same image for all)."""
  model = {"generator": dict(models.network_config(
      "generator", "resnet", latent_dim=8, base_width=8)), "num_classes": 0}
  graph, weights = variables.split(generator_lib.build(
      model, {"resolution": 32, "channels": 1}))
  return lambda w, z, labels: generator_lib.generate(graph, w, z), weights


def _psnr(a, b):
  return np.asarray(reconstruction.psnr(a, b))


@pytest.mark.slow
def test_optimisation_recovers_images_the_generator_made(net,
                                                         resnet_generator):
  generate, weights = resnet_generator
  rng = np.random.default_rng(0)
  z_true = rng.standard_normal((8, 8)).astype(np.float32)
  images = generate(weights, z_true, None)
  labels, known = jnp.zeros(8, jnp.int32), jnp.ones((8, 32, 32, 1))
  layers = perceptual.layers_of(net)
  # From a start near the truth (as hybrid's encoder gives), the pixel loss
  # alone finds z itself, and the full projector loss the image.
  start = z_true + 0.5 * rng.standard_normal(z_true.shape).astype(np.float32)
  exact = invert.Settings(steps=100, lr=0.1, perceptual_weight=0.0,
                          prior_weight=0.0, noise=0.0)
  z, _ = jax.jit(invert.make_optimizer(generate, net, layers, exact))(
      weights, net.weights, images, labels, start, known,
      jax.random.PRNGKey(0))
  np.testing.assert_allclose(z, z_true, atol=0.05)
  assert _psnr(images, generate(weights, z, None)).min() > 40
  # From the prior's mean (plain `optimize`), 40 steps of the projector:
  # well above where it started (measured: median 19 dB from 10 dB).
  projector = jax.jit(invert.make_optimizer(
      generate, net, layers, invert.Settings(steps=40, lr=0.1)))
  zeros = jnp.zeros_like(z_true)
  z, losses = projector(weights, net.weights, images, labels, zeros, known,
                        jax.random.PRNGKey(0))
  before = _psnr(images, generate(weights, zeros, None))
  after = _psnr(images, generate(weights, z, None))
  assert np.median(after) > np.median(before) + 5
  assert losses.shape == (8,)
  # Split over 8 devices, each image's problem is the same.
  mesh = sharding.make_mesh()
  split = lambda x: jax.device_put(x, sharding.batch_sharding(mesh))
  z8, _ = projector(weights, net.weights, split(images), split(labels),
                    split(zeros), split(known), jax.random.PRNGKey(0))
  # (Not bitwise: the per-device convolutions sum in another order, and 40
  # steps of a non-convex problem carry that: 5e-4 measured.)
  np.testing.assert_allclose(np.asarray(z8), np.asarray(z), atol=3e-3)


def test_inpainting_a_linear_generator_is_least_squares(net):
  """G(z) = tanh-free linear map: fitting z on the known pixels is a least
  squares problem numpy solves; the fill is G of that solution."""
  rng = np.random.default_rng(1)
  basis = rng.standard_normal((6, 32 * 32)).astype(np.float32) * 0.2
  generate = lambda w, z, labels: (z @ w).reshape(-1, 32, 32, 1)
  z_true = rng.standard_normal((4, 6)).astype(np.float32)
  images = np.asarray(generate(basis, z_true, None))
  known = np.ones((32, 32), np.float32)
  known[8:24, 8:24] = 0
  settings = invert.Settings(steps=300, lr=0.1, perceptual_weight=0.0,
                             prior_weight=0.0, noise=0.0)
  optimize = jax.jit(invert.make_optimizer(generate, net, (), settings))
  masks = jnp.broadcast_to(known[None, :, :, None], images.shape)
  z, _ = optimize(basis, net.weights, images + 0.0, jnp.zeros(4, jnp.int32),
                  jnp.zeros_like(z_true), masks, jax.random.PRNGKey(0))
  rows = known.reshape(-1) == 1
  solution = np.linalg.lstsq(basis[:, rows].T, images.reshape(4, -1)[:, rows]
                             .T, rcond=None)[0].T
  np.testing.assert_allclose(np.asarray(z), solution, atol=2e-3)
  filled = np.asarray(generate(basis, z, None))
  np.testing.assert_allclose(filled[:, 8:24, 8:24], images[:, 8:24, 8:24],
                             atol=2e-3)


def _linear_classifier(weight: np.ndarray, bias: float) -> FeatureNet:
  """Two classes: logits [0, w . x + b] of the flattened image."""
  def apply(weights, images, layers):
    score = images.reshape(len(images), -1) @ weights["w"] + weights["b"]
    return {"logits": jnp.stack([jnp.zeros_like(score), score], -1)}
  return FeatureNet(name="linear", kind="test", digest="", weights={
      "w": jnp.asarray(weight), "b": jnp.asarray(bias)}, apply=apply,
      layers=("logits",), features_layer="logits", logits_layer="logits",
      num_classes=2, label_dataset=None, input_description="")


def test_counterfactual_stops_just_past_the_decision_boundary():
  rng = np.random.default_rng(2)
  dim = 5
  basis = rng.standard_normal((dim, 16)).astype(np.float32)
  generate = lambda w, z, labels: (z @ w).reshape(-1, 4, 4, 1)
  weight = rng.standard_normal(16).astype(np.float32)
  net = _linear_classifier(weight, 0.5)
  z0 = rng.standard_normal((32, dim)).astype(np.float32)
  direction = basis @ weight  # d(score)/dz
  score0 = z0 @ direction + 0.5
  lr = 0.02
  run = jax.jit(edits.make_counterfactual(generate, net, steps=400, lr=lr,
                                          distance_weight=0.1))
  z, taken, _ = run(basis, net.weights, jnp.asarray(z0),
                    jnp.zeros(32, jnp.int32), jnp.ones(32, jnp.int32),
                    jnp.zeros_like(z0))
  z, taken = np.asarray(z), np.asarray(taken)
  score = z @ direction + 0.5
  assert (score > 0).all()  # every image reaches the target class
  already = score0 > 0
  assert already.any() and (~already).any()
  np.testing.assert_array_equal(z[already], z0[already])  # never moved
  assert (taken[already] == 0).all() and (taken[~already] > 0).all()
  # The others stop within one Adam step (each coordinate moves by about
  # lr at most) of the boundary.
  step_bound = 3 * lr * np.abs(direction).sum()
  assert (score[~already] <= step_bound).all()


def test_a_bridge_to_the_prototype_crosses_a_flat_classifier():
  # The target logit is clipped below: behind the boundary by more than 1
  # the classifier's gradient is exactly zero, so the gradient steps never
  # move (a latent with no target image near it in G's latent space). The
  # bridge puts each image at the first of N points on the slerp to its
  # prototype (a latent of the target class) past the boundary: checked
  # against numpy's slerp of the same points and the linear score.
  rng = np.random.default_rng(4)
  dim, points = 4, 16
  basis = rng.standard_normal((dim, 16)).astype(np.float32)
  generate = lambda w, z, labels: (z @ w).reshape(-1, 4, 4, 1)
  weight = rng.standard_normal(16).astype(np.float32)
  direction = basis @ weight
  z0 = rng.standard_normal((8, dim)).astype(np.float32)
  bias = -float(np.max(z0 @ direction)) - 3.0  # all in the flat region
  prototypes = rng.standard_normal((8, dim)).astype(np.float32)
  prototypes += ((12.0 - (prototypes @ direction + bias)) /
                 (direction @ direction))[:, None] * direction  # score 12

  def apply(weights, images, layers):
    score = images.reshape(len(images), -1) @ weights["w"] + weights["b"]
    target = jnp.maximum(score, -1.0)
    return {"logits": jnp.stack([jnp.zeros_like(score), target], -1)}
  net = dataclasses.replace(_linear_classifier(weight, bias), apply=apply)
  args = (basis, net.weights, jnp.asarray(z0), jnp.zeros(8, jnp.int32),
          jnp.ones(8, jnp.int32), jnp.asarray(prototypes))

  def edit(bridge_points):
    run = jax.jit(edits.make_counterfactual(
        generate, net, steps=50, lr=0.05, distance_weight=0.1,
        bridge_points=bridge_points))
    return [np.asarray(x) for x in run(*args)]

  z, taken, bridged = edit(0)
  np.testing.assert_array_equal(z, z0)  # no gradient, no move
  assert (taken == 50).all() and not bridged.any()
  z, taken, bridged = edit(points)
  assert bridged.all()
  theta = np.arccos(np.sum(z0 * prototypes, 1) / (
      np.linalg.norm(z0, axis=1) * np.linalg.norm(prototypes, axis=1)))
  for i in range(8):
    ts = np.arange(1, points + 1) / points
    path = (np.sin((1 - ts)[:, None] * theta[i]) * z0[i] +
            np.sin(ts[:, None] * theta[i]) * prototypes[i]) / np.sin(theta[i])
    first = np.argmax(path @ direction + bias > 0)
    np.testing.assert_allclose(z[i], path[first], rtol=1e-4, atol=1e-4)


def test_interpolation_endpoints_are_the_images(resnet_generator):
  """slerp's frames 0 and 1 regenerate the two images themselves."""
  from cnnjax.editing import latent_ops
  generate, weights = resnet_generator
  generate = jax.jit(generate, static_argnums=2)
  a, b = np.random.default_rng(3).standard_normal((2, 8)).astype(np.float32)
  path = np.asarray(latent_ops.slerp(a, b, np.linspace(0, 1, 5)))
  frames = np.asarray(generate(weights, path, None))
  ends = np.asarray(generate(weights, np.stack([a, b]), None))
  np.testing.assert_allclose(frames[[0, -1]], ends, atol=1e-5)


def test_settings_are_hashable_for_the_compile_cache():
  assert hash(invert.Settings()) == hash(invert.Settings())
  assert dataclasses.replace(invert.Settings(), steps=3).steps == 3
