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
                      moving once it is there
  inpaint             fill the unknown pixels: the projector's optimisation
                      on the known pixels only, from the inverted latent,
                      then the known pixels pasted back
"""

import jax
import jax.numpy as jnp
import numpy as np
import optax

from cnnjax.editing import invert, latent_ops
from cnnjax.editing.session import Editor, predicted_classes
from cnnjax.errors import UserError

PURPOSE_FIT = 4001  # seed offset of the latents directions are fitted on


def sample_labelled(editor: Editor, count: int, seed: int = 0):
  """(z, labels given to G, classes the classifier sees) of `count`
  generated images."""
  rng = np.random.default_rng(seed + PURPOSE_FIT)
  z = rng.standard_normal((count, editor.gen.latent_dim)).astype(np.float32)
  labels = (rng.integers(0, editor.gen.num_classes, count).astype(np.int32)
            if editor.conditional else None)
  classes = predicted_classes(editor.classify(editor.generate(z, labels)))
  return z, labels, classes


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


def sefa(editor: Editor, count: int):
  values, directions = latent_ops.sefa_directions(
      editor.gen.first_layer_kernel(), count)
  return directions.astype(np.float32), values


def pca(editor: Editor, count: int, samples: int = 4000, seed: int = 0):
  rng = np.random.default_rng(seed + PURPOSE_FIT)
  z = rng.standard_normal((samples, editor.gen.latent_dim)).astype(np.float32)
  first = jax.jit(editor.gen.first_layer)
  activations = editor.batched(lambda z: first(editor.gen.weights, z), z)
  directions, ratios = latent_ops.pca_directions(
      z, activations.reshape(samples, -1), count)
  return directions.astype(np.float32), ratios


def make_counterfactual(generate, net, steps: int, lr: float,
                        distance_weight: float):
  """counterfactual(gen_w, net_w, z0, labels, target) -> (z, steps taken),
  pure: per image, Adam on CE(classifier(G(z)), target) + distance_weight
  * mean((z - z0)^2), frozen from the step the classifier says target."""
  adam = optax.scale_by_adam()

  def logits_of(net_w, z, gen_w, labels):
    images = generate(gen_w, z, labels)
    return net.apply(net_w, images, (net.logits_layer,))[net.logits_layer]

  def run(gen_w, net_w, z0, labels, target):
    def objective(z):
      logits = logits_of(net_w, z, gen_w, labels)
      ce = optax.softmax_cross_entropy_with_integer_labels(logits, target)
      return jnp.sum(ce + distance_weight * jnp.mean((z - z0) ** 2, -1)), \
          logits

    def step(carry, _):
      z, state, taken = carry
      (_, logits), grads = jax.value_and_grad(objective, has_aux=True)(z)
      done = jnp.argmax(logits, -1) == target
      updates, state = adam.update(grads, state)
      z = jnp.where(done[:, None], z, z - lr * updates)
      return (z, state, taken + (~done).astype(jnp.int32)), None

    (z, _, taken), _ = jax.lax.scan(
        step, (z0, adam.init(z0), jnp.zeros(z0.shape[0], jnp.int32)), None,
        length=steps)
    return z, taken

  return run


def counterfactual(editor: Editor, z0, labels, target: int, steps: int = 200,
                   lr: float = 0.05, distance_weight: float = 1.0):
  """(edited z, steps each took) moving `z0` toward class `target`."""
  generate = (editor.gen.generate if editor.conditional else
              lambda w, z, labels: editor.gen.generate(w, z))
  fn = jax.jit(make_counterfactual(generate, editor.net, steps, lr,
                                   distance_weight))
  labels = editor.labels_for(labels, len(z0))
  targets = np.full(len(z0), target, np.int32)
  return editor.batched(
      lambda z, l, t: fn(editor.gen.weights, editor.net_weights, z, l, t),
      np.asarray(z0, np.float32), labels, targets)


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
