"""AdaIN's networks as pure functions, and a trained pair read from a run.

The encoder is VGG-19 up to relu4_1 (cnnjax.nets.vgg, `truncate`d: the
weights an adain run's state holds under "encoder"); the decoder is a
`model.decoder` network (cnnjax.models.decoder). `read(workdir)` takes both
from an adain run's checkpoint by reading its files (config.json and two
subtrees of the checkpoint), not through its task, so this layer sits below
the tasks: the adain task builds its decoder with `build_decoder` too.
"""

import dataclasses
import functools
from typing import Any

import jax
import jax.numpy as jnp
import ml_collections
from flax import nnx

from cnnjax import models
from cnnjax import workdir as workdir_lib
from cnnjax.editing import adain
from cnnjax.errors import UserError
from cnnjax.models import variables
from cnnjax.nets import vgg


def encoder_shapes() -> dict:
  """The shapes of VGG-19's weights up to relu4_1, without loading any."""
  shapes, channels = {}, 3
  for name in vgg.LAYERS["vgg19"]:
    if name.startswith("conv"):
      width = vgg.WIDTHS[int(name[4]) - 1]
      shapes[name] = {
          "kernel": jax.ShapeDtypeStruct((3, 3, channels, width),
                                         jnp.float32),
          "bias": jax.ShapeDtypeStruct((width,), jnp.float32)}
      channels = width
    if name == adain.CONTENT_LAYER:
      return shapes
  raise AssertionError("VGG-19 has a relu4_1")


def encode(weights, images: jax.Array, layers: tuple[str, ...]):
  """{layer: features} of the frozen encoder (max pooling, as trained)."""
  return vgg.apply(weights, images, layers)


def build_decoder(model: dict, data: dict, seed: int = 0) -> nnx.Module:
  """The decoder that a config's `model` and `data` sections describe."""
  return models.build(
      "decoder", ml_collections.ConfigDict(model["decoder"]),
      resolution=data["resolution"], channels=data["channels"],
      compute_dtype=model.get("compute_dtype", "float32"),
      rngs=nnx.Rngs(seed))


def decoder_graphdef(model: dict, data: dict) -> nnx.GraphDef:
  return nnx.graphdef(nnx.eval_shape(lambda: build_decoder(model, data)))


def decode(graph: nnx.GraphDef, network: variables.Network,
           features: jax.Array, params=None) -> jax.Array:
  """Images of relu4_1 features (with other `params`, if given)."""
  return variables.merge(graph, network, params)(features)


def stylizer(graph: nnx.GraphDef, networks):
  """(encode, decode) of networks = (encoder weights, decoder), as
  `adain.stylize_one` takes them."""
  encoder, decoder = networks
  return (functools.partial(encode, encoder),
          functools.partial(decode, graph, decoder))


@dataclasses.dataclass(frozen=True)
class TrainedAdain:
  """An adain run's encoder and decoder, on the default device."""
  graph: nnx.GraphDef
  networks: Any  # (encoder weights, decoder Network)
  values: dict  # the run's config.json
  workdir: str
  step: int

  @property
  def vgg(self) -> str:
    """The spec the encoder's weights were copied from (model.vgg)."""
    return self.values["model"]["vgg"]


def run_config(workdir: str) -> dict:
  """The config.json of an adain run; UserError for another kind of run."""
  values = workdir_lib.read_config(workdir)
  if values.get("task") != "adain":
    raise UserError(f"{workdir} holds a {values.get('task')} run; --method "
                    "adain needs an adain run (configs/adain.py).")
  return values


def read(workdir: str, step: int | str | None = None) -> TrainedAdain:
  """The encoder and decoder of an adain run's checkpoint (the newest, or
  `step`); UserError for another kind of run or no checkpoint."""
  values = run_config(workdir)
  try:
    model, data = values["model"], values["data"]
    graph = decoder_graphdef(model, data)
  except (KeyError, TypeError) as error:
    raise UserError(f"The config.json of {workdir} lacks {error}; it is not "
                    "one this version of cnnjax can read.") from None
  device = jax.sharding.SingleDeviceSharding(jax.devices()[0])
  placed = lambda tree: jax.tree.map(  # noqa: E731
      lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=device), tree)
  found, decoder = workdir_lib.restore_subtree(
      workdir, "decoder",
      placed(jax.eval_shape(lambda: variables.split(
          build_decoder(model, data))[1])), step)
  _, encoder = workdir_lib.restore_subtree(workdir, "encoder",
                                           placed(encoder_shapes()), found)
  return TrainedAdain(graph, (encoder, decoder), values, workdir, found)
