"""Edits of inverted images, on top of an `Editor`'s generator and
classifier (the math of directions is `latent_ops`):

  class_direction     InterFaceGAN: the normal of a linear SVM separating
                      the latents of generated images the classifier puts
                      in the target class from the others
  class_means         latent arithmetic: mean latent of each class
                      (classifier-labelled generated images)
  sefa / pca          closed-form (SeFa) and GANSpace directions
  counterfactual      the classifier-guided edit: Adam on z until the
                      classifier says the target class, with a penalty on
                      the distance to the original latent; each image stops
                      moving once it is there; those still short of it
                      take the first point of the target class on the way
                      to the nearest generated image of that class
  inpaint             fill the unknown pixels: the projector's optimisation
                      on the known pixels only, from the inverted latent,
                      then the known pixels pasted back
"""

import logging

import jax
import jax.numpy as jnp
import numpy as np
import optax

from cnnjax.editing import invert, latent_ops
from cnnjax.editing.session import Editor, predicted_classes
from cnnjax.errors import UserError

log = logging.getLogger(__name__)

PURPOSE_FIT = 4001  # seed offset of the latents directions are fitted on


def sample_labelled(editor: Editor, count: int, seed: int = 0):
  """(latents in the generator's space, labels given to G, classes the
  classifier sees) of `count` generated images."""
  rng = np.random.default_rng(seed + PURPOSE_FIT)
  z = rng.standard_normal((count, editor.gen.latent_dim)).astype(np.float32)
  labels = (rng.integers(0, editor.gen.num_classes, count).astype(np.int32)
            if editor.conditional else None)
  latents = editor.from_z(z, labels)
  classes = predicted_classes(editor.classify(editor.generate(latents,
                                                              labels)))
  return latents, labels, classes


def class_direction(editor: Editor, target: int, count: int = 4000,
                    seed: int = 0):
  """(unit direction toward `target`, the SVM's train accuracy, share of
  positives) fitted on `count` classifier-labelled samples."""
  z, _, classes = sample_labelled(editor, count, seed)
  positive = classes == target
  if positive.all() or not positive.any():
    raise UserError(
        f"The classifier puts {int(positive.sum())} of {count} generated "
        f"images in class {target}: a direction toward it needs samples on "
        "both sides (a generator that draws that class, and others).")
  direction, _, accuracy = latent_ops.fit_direction(z, positive)
  return direction.astype(np.float32), float(accuracy), float(positive.mean())


def class_means(editor: Editor, count: int = 4000, seed: int = 0):
  """{class: mean latent} of classifier-labelled samples."""
  z, _, classes = sample_labelled(editor, count, seed)
  return {int(c): z[classes == c].mean(0) for c in np.unique(classes)}


def _every_layer(editor: Editor, directions: np.ndarray) -> np.ndarray:
  """W directions [k, w_dim] as latents of the editor's space: in w+ the
  same move in every layer (so a strength means what it means in w)."""
  if editor.gen.space.name != "w+":
    return directions
  return np.tile(directions, (1, editor.gen.space.num_ws))


def sefa(editor: Editor, count: int):
  """SeFa directions: of the first layer's kernel in z, of the style
  layers' kernels in w and w+ (`generator.first_layer_kernel`)."""
  values, directions = latent_ops.sefa_directions(
      editor.gen.first_layer_kernel(), count)
  return _every_layer(editor, directions.astype(np.float32)), values


def pca(editor: Editor, count: int, samples: int = 4000, seed: int = 0):
  """GANSpace: in z, through the first layer's activations
  (`latent_ops.pca_directions`); in w and w+, the principal components of
  w itself (GANSpace's recipe for StyleGAN)."""
  rng = np.random.default_rng(seed + PURPOSE_FIT)
  z = rng.standard_normal((samples, editor.gen.latent_dim)).astype(np.float32)
  space = editor.gen.space
  if space.name == "z":
    first = jax.jit(editor.gen.first_layer)
    activations = editor.batched(lambda z: first(editor.gen.weights, z), z)
    latents = z
  else:
    labels = (rng.integers(0, editor.gen.num_classes, samples)
              if editor.conditional else None)
    latents = editor.from_z(z, labels)[:, :space.w_dim]  # w (w+: layer 0)
    activations = latents
  directions, ratios = latent_ops.pca_directions(
      latents, activations.reshape(samples, -1), count)
  return _every_layer(editor, directions.astype(np.float32)), ratios


def make_counterfactual(generate, net, steps: int, lr: float,
                        distance_weight: float, bridge_points: int = 0):
  """counterfactual(gen_w, net_w, z0, labels, target, prototype) -> (z,
  steps taken, bridged), pure. Per image, Adam on

    CE(classifier(G(z)), target) + weight * mean((z - z0)^2),

  frozen from the step the classifier says target.

  Gradient steps stall where the classifier's gradient through G leads to a
  local optimum of another class (no target image near z0 in G's latent
  space). With `bridge_points` > 0, an image still short of the target
  after the steps takes the first of that many points on the slerp from
  its z to its `prototype` (a latent whose image the classifier puts in the
  target class; `nearest_prototypes`) that the classifier puts there: the
  prototype guidance of Van Looveren & Klaise (2021), as a line search.
  """
  adam = optax.scale_by_adam()

  def logits_of(net_w, z, gen_w, labels):
    images = generate(gen_w, z, labels)
    return net.apply(net_w, images, (net.logits_layer,))[net.logits_layer]

  def reached(logits, target):
    return jnp.argmax(logits, -1) == target

  def run(gen_w, net_w, z0, labels, target, prototype):
    def objective(z):
      logits = logits_of(net_w, z, gen_w, labels)
      ce = optax.softmax_cross_entropy_with_integer_labels(logits, target)
      return jnp.sum(ce + distance_weight * jnp.mean((z - z0) ** 2, -1)), \
          logits

    def step(carry, _):
      z, state, taken = carry
      (_, logits), grads = jax.value_and_grad(objective, has_aux=True)(z)
      done = reached(logits, target)
      updates, state = adam.update(grads, state)
      z = jnp.where(done[:, None], z, z - lr * updates)
      return (z, state, taken + (~done).astype(jnp.int32)), None

    (z, _, taken), _ = jax.lax.scan(
        step, (z0, adam.init(z0), jnp.zeros(z0.shape[0], jnp.int32)), None,
        length=steps)
    bridged = jnp.zeros(z0.shape[0], bool)
    if bridge_points:
      short = ~reached(logits_of(net_w, z, gen_w, labels), target)
      ts = jnp.arange(1, bridge_points + 1, dtype=z.dtype) / bridge_points
      path = latent_ops.slerp(z, prototype, ts)  # [B, T, d]
      there = jax.lax.map(lambda zt: reached(
          logits_of(net_w, zt, gen_w, labels), target),
          jnp.swapaxes(path, 0, 1))  # [T, B]
      first = jnp.argmax(there, 0)
      bridged = short & there.any(0)
      z = jnp.where(bridged[:, None],
                    path[jnp.arange(z.shape[0]), first], z)
    return z, taken, bridged

  return run


def nearest_prototypes(editor: Editor, z0, labels, target: int,
                       count: int = 4000, seed: int = 0):
  """For each latent, the generated latent of the target class whose image
  is nearest to G(z0) in the classifier's (unit-normalised) features, among
  `count` classifier-labelled samples (of the same G label when G is
  conditional and some are); None when none of them is of that class."""
  bank, bank_labels, classes = sample_labelled(editor, count, seed)
  chosen = classes == target
  if not chosen.any():
    return None
  bank = bank[chosen]
  bank_labels = None if bank_labels is None else bank_labels[chosen]
  unit = lambda f: f / np.maximum(np.linalg.norm(f, axis=-1, keepdims=True),
                                  1e-12)
  mine = unit(editor.features(editor.generate(z0, labels)))
  theirs = unit(editor.features(editor.generate(bank, bank_labels)))
  distance = -mine @ theirs.T  # same order as the squared distance
  if bank_labels is not None:
    other_label = labels[:, None] != bank_labels[None, :]
    keep = ~other_label.all(1, keepdims=True)  # rows with a same-label one
    distance = np.where(other_label & keep, np.inf, distance)
  return bank[np.argmin(distance, 1)]


def counterfactual(editor: Editor, z0, labels, target: int, steps: int = 200,
                   lr: float = 0.05, distance_weight: float = 1.0,
                   bridge_points: int = 0):
  """(edited z, steps each took, whether each was bridged) moving `z0`
  toward class `target` (see `make_counterfactual`). Without a generated
  image of the target class to bridge to, the gradient steps alone."""
  z0 = np.asarray(z0, np.float32)
  labels = editor.labels_for(labels, len(z0))
  prototypes = None
  if bridge_points:
    prototypes = nearest_prototypes(
        editor, z0, labels if editor.conditional else None, target)
    if prototypes is None:
      log.warning("The classifier puts none of 4000 generated images in "
                  "class %d: no prototype to bridge to; gradient steps "
                  "only.", target)
      bridge_points = 0
  generate = (editor.gen.generate if editor.conditional else
              lambda w, z, labels: editor.gen.generate(w, z))
  # lr and the distance in units of the latents' spread (1 in z).
  spread = editor.spread()
  fn = jax.jit(make_counterfactual(generate, editor.net, steps, lr * spread,
                                   distance_weight / spread ** 2,
                                   bridge_points))
  prototypes = np.zeros_like(z0) if prototypes is None else prototypes
  targets = np.full(len(z0), target, np.int32)
  return editor.batched(
      lambda z, l, t, p: fn(editor.gen.weights, editor.net_weights, z, l, t,
                            p), z0, labels, targets, prototypes)


def inpaint(editor: Editor, originals, labels, z0, known, steps: int = 200):
  """(blended images, fitted z): G's fill of the unknown pixels."""
  settings = invert.Settings(steps=steps)
  known = np.broadcast_to(known[None, :, :, None],
                          (len(originals), *known.shape, 1)).astype(
                              np.float32)
  z, _ = editor.optimize(originals, labels, np.asarray(z0, np.float32),
                         settings, known)
  filled = editor.generate(z, labels)
  return known * originals + (1 - known) * filled, z
