"""A trained generator as pure functions: what inversion and edits use.

`read(workdir)` takes the generator of a GAN run (its EMA params where the
run keeps an EMA, as `cnnjax sample` does) or the frozen generator an
encoder run holds, from the newest (or a given) checkpoint, with the
latent space edits work in (`spaces`: z, or StyleGAN2's w and w+). It reads the
workdir's files directly (config.json and one subtree of the checkpoint),
not the run's task, so this layer sits below the tasks: the encoder task
builds its generator with `graphdef` too.
"""

import dataclasses
from typing import Any

import jax
import ml_collections
import numpy as np
from flax import nnx

from cnnjax import models, sharding
from cnnjax import workdir as workdir_lib
from cnnjax.editing import spaces
from cnnjax.errors import UserError
from cnnjax.models import variables


def build(model: dict, data: dict, seed: int = 0) -> nnx.Module:
  """The generator that a config's `model` and `data` sections describe."""
  return models.build(
      "generator", ml_collections.ConfigDict(model["generator"]),
      resolution=data["resolution"], channels=data["channels"],
      num_classes=model["num_classes"],
      compute_dtype=model.get("compute_dtype", "float32"),
      rngs=nnx.Rngs(seed))


def graphdef(model: dict, data: dict) -> nnx.GraphDef:
  return nnx.graphdef(nnx.eval_shape(lambda: build(model, data)))


def generate(graph: nnx.GraphDef, weights: variables.Network, z: jax.Array,
             labels: jax.Array | None = None) -> jax.Array:
  """Images in [-1, 1] of latents z (and labels, for a conditional G), with
  batch norm in inference mode (its running statistics): a pure function
  of `weights`, traced under jit."""
  return variables.merge(graph, weights)(z, labels, train=False)


@dataclasses.dataclass(frozen=True)
class TrainedGenerator:
  """A generator read from a run, ready for jitted edits."""
  graph: nnx.GraphDef
  weights: Any  # a variables.Network, replicated over the mesh
  values: dict  # the config.json of the run it came from
  workdir: str
  step: int
  used_ema: bool
  space: spaces.Space

  @property
  def latent_dim(self) -> int:
    """The length of z, the generator's input (`space.size`: of a latent
    in the space edits work in)."""
    return self.values["model"]["generator"]["latent_dim"]

  @property
  def num_classes(self) -> int:
    return self.values["model"]["num_classes"]

  @property
  def data(self) -> dict:
    return self.values["data"]

  def module(self, weights):
    return variables.merge(self.graph, weights)

  def generate(self, weights, latents, labels=None):
    """Images of latents in `space` (labels: a conditional G's, used by z
    only; w and w+ already hold the class)."""
    return self.space.generate(self.module(weights), latents, labels)

  def from_z(self, weights, z, labels=None):
    """Latents in `space` of generator inputs z."""
    return self.space.from_z(self.module(weights), z, labels)

  def start(self, weights, count: int):
    """The optimisation's start: z = 0, or w_avg."""
    return self.space.start(self.module(weights), count)

  def first_layer_kernel(self) -> np.ndarray:
    """The weight SeFa factorises: in z, the kernel [latent_dim, out] of the
    layer that first maps z (the `project` dense layer of the dcgan and
    resnet generators); in w and w+, the style layers' kernels [w_dim, sum
    of styles] (`spaces.style_kernel`)."""
    params = self.weights.params
    if self.space.name != "z":
      return spaces.style_kernel(params)
    if "project" not in params:
      raise UserError(
          f"The {self.values['model']['generator']['name']!r} generator has "
          "no `project` layer mapping the latent; SeFa and PCA directions "
          "need one (the dcgan and resnet generators have it).")
    return np.asarray(params["project"]["kernel"][...])

  def first_layer(self, weights, z):
    """The `project` layer's output for latents z (GANSpace's activations)."""
    return variables.merge(self.graph, weights).project(z)


def make_space(values: dict, space: str | None = None) -> spaces.Space:
  """The latent space `space` (default: the generator's, `spaces.default`)
  of the generator a run's config.json `values` describes."""
  section = values["model"]["generator"]
  name = space or spaces.default(section["name"])
  spaces.check(name, section["name"])
  num_ws = None
  if name != "z":
    module = nnx.eval_shape(lambda: build(values["model"], values["data"]))
    num_ws = module.num_ws
  return spaces.Space(name, section["name"], section["latent_dim"],
                      section.get("w_dim"), num_ws)


def read(workdir: str, step: int | str | None = None,
         mesh=None, space: str | None = None) -> TrainedGenerator:
  """The generator of a GAN run or of an encoder run (see the module
  docstring), editing in `space` (default: w for StyleGAN2, else z);
  UserError for another kind of run, space or no checkpoint."""
  values = workdir_lib.read_config(workdir)
  task = values.get("task")
  if task not in ("gan", "encoder"):
    raise UserError(f"{workdir} holds a {task} run, which has no generator; "
                    "pass the --workdir of a GAN run (or of an encoder run).")
  try:
    model, data = values["model"], values["data"]
    graph = graphdef(model, data)
  except (KeyError, TypeError) as error:
    raise UserError(f"The config.json of {workdir} lacks {error}; it is not "
                    "one this version of cnnjax can read.") from None
  latent_space = make_space(values, space)  # before reading weights
  mesh = mesh or sharding.make_mesh()
  abstract = sharding.abstract_of(
      lambda: variables.split(build(model, data))[1], mesh)
  found, network = workdir_lib.restore_subtree(workdir, "generator", abstract,
                                               step)
  used_ema = task == "gan" and values.get("ema", {}).get(
      "half_life_kimg", 0) > 0
  if used_ema:
    _, params = workdir_lib.restore_subtree(workdir, "ema_params",
                                            abstract.params, found)
    network = network.replace(params=params)
  elif task == "encoder":  # its generator was loaded from the GAN's EMA
    used_ema = "ema_params" in values["init_from"]["subtree"]
  return TrainedGenerator(graph, network, values, workdir, found, used_ema,
                          latent_space)
