"""An editing session: a trained generator, its classifier, optionally an
encoder, on a mesh of devices, with batched and jitted inversion.

Everything `cnnjax invert` and `cnnjax edit` do goes through an `Editor`:
it splits host batches over the devices (padding the last one, so one
shape is compiled), and keeps the classifier that measures and guides the
edits (the run's `eval.extractor` by default: for Fashion-MNIST and digits
the reference classifier cnnjax ships).
"""

import dataclasses
import os
import time

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
from flax import nnx

from cnnjax import models, nets, sharding
from cnnjax import workdir as workdir_lib
from cnnjax.data.tfds_catalog import resolve_data_dir
from cnnjax.editing import generator as generator_lib
from cnnjax.editing import invert, perceptual
from cnnjax.editing.quality import pad_to
from cnnjax.errors import UserError
from cnnjax.models import variables
from cnnjax.utils.trees import tree_sha256

SPREAD_SEED = 5003  # of the latents that measure w's spread


@dataclasses.dataclass(frozen=True)
class Encoder:
  graph: nnx.GraphDef
  weights: variables.Network
  workdir: str
  step: int


def read_encoder(workdir: str, gen: generator_lib.TrainedGenerator,
                 mesh) -> Encoder:
  """The encoder of an encoder run, which must have been trained for
  `gen` (the same generator weights)."""
  values = workdir_lib.read_config(workdir)
  if values.get("task") != "encoder":
    raise UserError(f"--encoder {workdir} holds a {values.get('task')} run; "
                    "it must be an encoder run (configs/encoder.py).")
  section = ml_collections.ConfigDict(values["model"]["encoder"])
  build = lambda: models.build(
      "encoder", section, resolution=values["data"]["resolution"],
      channels=values["data"]["channels"], rngs=nnx.Rngs(0))
  abstract = sharding.abstract_of(lambda: variables.split(build())[1], mesh)
  step, network = workdir_lib.restore_subtree(workdir, "encoder", abstract)
  _, its_generator = workdir_lib.restore_subtree(
      workdir, "generator", _abstract(gen.weights), step)
  its_space = values["model"].get("space", "z")
  if its_space != gen.space.name:
    raise UserError(
        f"The encoder in {workdir} maps images to {its_space}, not to "
        f"{gen.space.name}; pass --space {its_space} (or an encoder trained "
        f"for {gen.space.name}).")
  if tree_sha256(its_generator.params) != tree_sha256(gen.weights.params):
    raise UserError(
        f"The encoder in {workdir} was trained for another generator than "
        f"the one of {gen.workdir} (step {gen.step}); pass the GAN run and "
        "step it was trained on (its init_from: "
        f"{values['init_from']['workdir']}).")
  return Encoder(nnx.graphdef(nnx.eval_shape(build)), network, workdir, step)


def _abstract(tree):
  return jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype,
                                                     sharding=x.sharding),
                      tree)


class Editor:
  """See the module docstring."""

  def __init__(self, gan_workdir: str, *, encoder: str | None = None,
               step=None, classifier: str | None = None,
               batch_size: int = 250, devices=None, space: str | None = None):
    self.mesh = sharding.make_mesh(devices)
    self.gen = generator_lib.read(gan_workdir, step, self.mesh, space)
    data = self.gen.data
    spec = classifier or self.gen.values.get("eval", {}).get(
        "extractor", "classifier")
    self.net = nets.load(spec, dataset=data["name"],
                         data_dir=resolve_data_dir(data["data_dir"] or None))
    self.layers = perceptual.layers_of(self.net)
    replicated = sharding.replicated(self.mesh)
    self.net_weights = jax.device_put(self.net.weights, replicated)
    self.encoder = (read_encoder(encoder, self.gen, self.mesh)
                    if encoder else None)
    self.batch_size = -(-batch_size // self.mesh.size) * self.mesh.size
    self.conditional = self.gen.num_classes > 0
    self._logits = jax.jit(lambda w, x: self.net.apply(
        w, x, (self.net.logits_layer,))[self.net.logits_layer])
    self._generate = jax.jit(self.gen.generate)
    self._compiled = {}

  # Host batches <-> devices --------------------------------------------
  def put(self, array: np.ndarray, size: int | None = None) -> jax.Array:
    """Rows of a host array split over the devices, padded to `size`
    (default: the batch size)."""
    return jax.device_put(pad_to(np.asarray(array), size or self.batch_size),
                          sharding.batch_sharding(self.mesh))

  def batched(self, fn, *arrays):
    """fn over device batches of the arrays' rows; numpy results, unpadded
    (a tuple when fn returns one). Fewer rows than a batch are padded only
    to a multiple of the devices; more are cut into full batches, the last
    one padded, so that one shape is compiled."""
    count = len(arrays[0])
    devices = self.mesh.size
    size = (self.batch_size if count > self.batch_size else
            -(-count // devices) * devices)
    outputs = []
    for start in range(0, count, size):
      n = min(size, count - start)
      outputs.append((fn(*[self.put(a[start:start + n], size)
                           for a in arrays]), n))
    first = outputs[0][0]
    if isinstance(first, tuple):
      return tuple(np.concatenate([np.asarray(o[i])[:n] for o, n in outputs])
                   for i in range(len(first)))
    return np.concatenate([np.asarray(o)[:n] for o, n in outputs])

  def labels_for(self, labels, count: int) -> np.ndarray:
    return (np.zeros(count, np.int32) if labels is None else
            np.asarray(labels, np.int32))

  # What the networks say ------------------------------------------------
  def generate(self, z, labels=None) -> np.ndarray:
    """Images of latents in the generator's space."""
    labels = self.labels_for(labels, len(z))
    return self.batched(lambda z, l: self._generate(
        self.gen.weights, z, l if self.conditional else None), z, labels)

  def from_z(self, z, labels=None) -> np.ndarray:
    """Latents in the generator's space of inputs z (z itself in z)."""
    if self.gen.space.name == "z":
      return np.asarray(z, np.float32)
    labels = self.labels_for(labels, len(z))
    fn = self._compiled.setdefault("from_z", jax.jit(self.gen.from_z))
    return self.batched(lambda z, l: fn(
        self.gen.weights, z, l if self.conditional else None), z, labels)

  def start(self, count: int) -> np.ndarray:
    """The optimisation's start: z = 0, or w_avg."""
    return np.asarray(self.gen.start(self.gen.weights, count))

  def spread(self, samples: int = 1000) -> float:
    """The latents' standard deviation per coordinate: 1 in z; in w and w+
    the RMS of w - w_avg over `samples` mapped latents (the projector's
    w_std, per coordinate)."""
    if self.gen.space.name == "z":
      return 1.0
    if "spread" not in self._compiled:
      rng = np.random.default_rng(SPREAD_SEED)
      z = rng.standard_normal((samples, self.gen.latent_dim)).astype(
          np.float32)
      labels = (rng.integers(0, self.gen.num_classes, samples)
                if self.conditional else None)
      w = self.from_z(z, labels)
      self._compiled["spread"] = float(np.sqrt(np.mean(
          (w - self.start(1)) ** 2)))
    return self._compiled["spread"]

  def classify(self, images) -> np.ndarray:
    """The classifier's logits [N, K] of images in [-1, 1]."""
    return self.batched(lambda x: self._logits(self.net_weights, x), images)

  def features(self, images) -> np.ndarray:
    """The classifier's features (its FID layer) of images in [-1, 1]."""
    net = self.net
    fn = self._compiled.setdefault("features", jax.jit(
        lambda w, x: net.apply(w, x, (net.features_layer,))[
            net.features_layer]))
    return self.batched(lambda x: fn(self.net_weights, x), images)

  def encode(self, images) -> np.ndarray:
    if self.encoder is None:
      raise UserError("This needs an encoder: pass --encoder ENCODER_RUN (a "
                      "run of configs/encoder.py:gan=<this GAN run>).")
    enc, gen = self.encoder, self.gen
    # The space's start plus E's offset, as the encoder task trains it.
    fn = self._compiled.setdefault("encode", jax.jit(
        lambda w, g, x: variables.merge(enc.graph, w)(x) + gen.start(
            g, x.shape[0])))
    return self.batched(lambda x: fn(enc.weights, gen.weights, x), images)

  def optimize(self, images, labels, z0, settings: invert.Settings,
               known=None, seed: int = 0):
    """(z, final losses) of the projector's optimisation from z0."""
    key = ("optimize", settings)
    if key not in self._compiled:
      generate = (self.gen.generate if self.conditional else
                  lambda w, z, labels: self.gen.generate(w, z))
      self._compiled[key] = jax.jit(invert.make_optimizer(
          generate, self.net, self.layers, settings, self.gen.space.prior,
          self.spread()))
    fn = self._compiled[key]
    known = (np.ones((*images.shape[:3], 1), np.float32) if known is None
             else known)
    rng = jax.random.PRNGKey(seed)
    return self.batched(
        lambda x, l, z, m: fn(self.gen.weights, self.net_weights, x, l, z, m,
                              rng),
        images, self.labels_for(labels, len(images)), z0, known)

  def invert(self, images, labels, method: str, settings: invert.Settings,
             known=None) -> tuple[np.ndarray, float]:
    """(latents, seconds) of one method; `seconds` excludes compiling
    (a first call on one batch compiles)."""
    if method not in invert.METHODS:
      raise UserError(f"--method {method!r}: use one of "
                      f"{', '.join(invert.METHODS)}.")
    def run(images, labels, known):
      if method == "encoder":
        return self.encode(images)
      z0 = (self.encode(images) if method == "hybrid" else
            self.start(len(images)))
      return self.optimize(images, labels, z0, settings, known)[0]

    head = slice(0, min(len(images), self.batch_size))
    run(images[head], None if labels is None else labels[head],
        None if known is None else known[head])  # compile
    start = time.perf_counter()
    z = run(images, labels, known)
    return z, time.perf_counter() - start

  def describe(self) -> dict:
    return {"gan_workdir": os.path.abspath(self.gen.workdir),
            "gan_step": self.gen.step, "ema": self.gen.used_ema,
            "classifier": self.net.name,
            "encoder_workdir": (os.path.abspath(self.encoder.workdir)
                                if self.encoder else None),
            "space": self.gen.space.name,
            "devices": self.mesh.size}


def predicted_classes(logits) -> np.ndarray:
  return np.asarray(jnp.argmax(jnp.asarray(logits), -1), np.int32)
