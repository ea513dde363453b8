"""Networks by role and name: a config section `{name, **fields}` builds one.

Each role (generator, discriminator, classifier, encoder, enhancer,
decoder) has a registry of families. A family is an nnx.Module class whose
keyword-only constructor arguments are its config fields, plus the context
every network of a run shares, which comes from elsewhere in the config:

  resolution, channels  data.resolution, data.channels
  num_classes           model.num_classes (only families that take it are
                        conditional)
  num_outputs           what the task needs of a regressor (the enhancer's
                        adjustment parameters)
  dtype                 model.compute_dtype
  rngs                  the run's seed

So `model.generator = {name: "resnet", latent_dim: 128, base_width: 128,
bn_momentum: 0.9}` builds `resnet.Generator(latent_dim=128, ...)`, as
big_vision builds `Model(**config.model)`. A family checks its own values
with an optional `config_problems(fields, resolution)` classmethod.

Adding a family: write the module, add it to its role's registry below.
"""

import inspect

import jax.numpy as jnp
import ml_collections
from flax import nnx

from cnnjax.errors import ConfigError
from cnnjax.models import (classifier, dcgan, decoder, encoder, enhancer, mlp,
                           resnet, stylegan2)

REGISTRY = {
    "generator": {"dcgan": dcgan.Generator, "mlp": mlp.Generator,
                  "resnet": resnet.Generator,
                  "stylegan2": stylegan2.Generator},
    "discriminator": {"dcgan": dcgan.Discriminator,
                      "mlp": mlp.Discriminator,
                      "resnet": resnet.Discriminator,
                      "stylegan2": stylegan2.Discriminator},
    "classifier": {"cnn": classifier.Classifier},
    "encoder": {"dcgan": encoder.DcganEncoder,
                "resnet": encoder.ResnetEncoder},
    "enhancer": {"cnn": enhancer.CnnEnhancer},
    "decoder": {"adain": decoder.AdainDecoder},
}
# model.compute_dtype -> the `dtype` models compute in (None: float32 as is).
COMPUTE_DTYPES = {"float32": None, "bfloat16": jnp.bfloat16}
# Constructor arguments that come from the run, not the role's section.
CONTEXT = ("resolution", "channels", "num_classes", "num_outputs", "dtype",
           "rngs")


def family(role: str, name: str) -> type[nnx.Module]:
  families = REGISTRY[role]
  if name not in families:
    raise ConfigError(f"Invalid config: model.{role}.name={name!r} is not a "
                      f"{role} family; use one of {sorted(families)}.")
  return families[name]


def fields_of(cls: type[nnx.Module]) -> dict[str, object]:
  """A family's own config fields and their defaults (inspect.Parameter.empty
  when it has none)."""
  return {name: p.default
          for name, p in inspect.signature(cls.__init__).parameters.items()
          if p.kind is p.KEYWORD_ONLY and name not in CONTEXT}


def network_config(role: str, name: str, **fields) -> ml_collections.ConfigDict:
  """A role's config section: the family's name and all of its fields, the
  ones not given at their defaults (so config.json records every value)."""
  own = fields_of(family(role, name))
  unknown = sorted(set(fields) - set(own))
  if unknown:
    raise ConfigError(f"{role} {name!r} has no fields {unknown}; its fields "
                      f"are {sorted(own)}.")
  values = {key: fields.get(key, default) for key, default in own.items()}
  missing = sorted(k for k, v in values.items() if v is inspect.Parameter.empty)
  if missing:
    raise ConfigError(f"{role} {name!r} needs the fields {missing}.")
  return ml_collections.ConfigDict({"name": name, **values})


def check(role: str, section, *, resolution: int, num_classes: int) -> None:
  """Validates a role's section against its family: names of fields (none
  unknown, none missing), conditioning, and the family's own value checks."""
  cls = family(role, section.name)
  own = fields_of(cls)
  given = {k: v for k, v in section.items() if k != "name"}
  where = f"model.{role}"
  unknown = sorted(set(given) - set(own))
  if unknown:
    raise ConfigError(
        f"Invalid config: {where}.{unknown[0]} is not a field of the "
        f"{role} {section.name!r}; its fields are {sorted(own)}. A flag "
        f"can change a field but not the set of fields: to use another "
        f"family, set the whole section in a config file, e.g. "
        f"config.{where} = models.network_config({role!r}, "
        f"{section.name!r}, ...) (as configs/sngan.py does).")
  missing = sorted(set(own) - set(given))
  if missing:
    raise ConfigError(f"Invalid config: {where} ({section.name!r}) lacks the "
                      f"fields {missing}.")
  if num_classes and "num_classes" not in inspect.signature(
      cls.__init__).parameters:
    conditional = sorted(n for n, c in REGISTRY[role].items()
                         if "num_classes" in inspect.signature(
                             c.__init__).parameters)
    raise ConfigError(
        f"Invalid config: model.num_classes > 0 needs a conditional {role} "
        f"({conditional}), not {section.name!r}.")
  resolutions = getattr(cls, "resolutions", (28, 32, 64))
  if resolution not in resolutions:
    raise ConfigError(
        f"Invalid config: data.resolution={resolution}: the {role} "
        f"{section.name!r} is built for {', '.join(map(str, resolutions))}.")
  problems = getattr(cls, "config_problems", None)
  for problem in (problems(given, resolution) if problems else []):
    raise ConfigError(f"Invalid config: {where}.{problem}")


def build(role: str, section, *, resolution: int, channels: int,
          num_classes: int = 0, num_outputs: int = 0,
          compute_dtype: str = "float32", rngs: nnx.Rngs) -> nnx.Module:
  """The network a role's section describes, initialised from `rngs`."""
  cls = family(role, section.name)
  context = {"resolution": resolution, "channels": channels,
             "num_outputs": num_outputs,
             "dtype": COMPUTE_DTYPES[compute_dtype], "rngs": rngs}
  parameters = inspect.signature(cls.__init__).parameters
  if "num_classes" in parameters:
    context["num_classes"] = num_classes
  context = {k: v for k, v in context.items() if k in parameters}
  return cls(**{k: v for k, v in section.items() if k != "name"}, **context)

