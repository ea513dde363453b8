"""The adain task: train AdaIN's decoder (Huang & Belongie 2017) with the
shared loop.

Each step takes content images c (batch["image"]) and style images s
(batch["style_image"], the `style` data stream) and, with the frozen VGG-19
f up to relu4_1 and the decoder g (cnnjax.editing.adain, adain_model):

  t = AdaIN(f(c), f(s))
  loss = content_weight · |f(g(t)) − t|² + style_weight · Σ_l (|μ_l(g(t))
         − μ_l(s)|² + |σ_l(g(t)) − σ_l(s)|²),  l = relu1_1 ... relu4_1

The step draws no randomness: which images meet is the data streams'
business, each a pure function of the step.

The encoder's weights (VGG-19 up to relu4_1, 3.5M parameters, 14 MB) are
part of the state, copied from `model.vgg` at step 0 and never trained: a
run's checkpoint then holds the exact network its decoder was trained for,
and `cnnjax stylize --workdir` needs no VGG file (nor the seconds random
weights take to calibrate). They enter the state through an argument of
the jitted init, not as constants of the program.
"""

import functools
import logging
import time
from typing import Any

import flax.struct
import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.sharding import Mesh

from cnnjax import config as config_lib
from cnnjax import nets, sharding
from cnnjax.data.tfds_catalog import resolve_data_dir
from cnnjax.editing import adain, adain_model, quality
from cnnjax.errors import UserError
from cnnjax.models import variables
from cnnjax.nets import vgg
from cnnjax.tasks import base
from cnnjax.tasks.adain import config as adain_config

log = logging.getLogger(__name__)

GRID_PAIRS = 8  # held-out pairs in the sample grids


@flax.struct.dataclass
class AdainState:
  step: jax.Array
  decoder: variables.Network
  opt: Any
  encoder: Any  # {conv name: {"kernel", "bias"}}, VGG-19 up to relu4_1


class AdainTask(base.Task):
  """A `model.decoder` for VGG-19's relu4_1, trained on content and style
  streams."""

  name = "adain"
  config_module = adain_config
  resolutions = adain_config.RESOLUTIONS

  def __init__(self, config):
    super().__init__(config)
    values = config_lib.to_dict(config)
    self.model_values, self.data_values = values["model"], values["data"]
    self.decoder_def = adain_model.decoder_graphdef(self.model_values,
                                                    self.data_values)
    self.optimizer = optax.adam(config.optim.lr, b1=config.optim.b1,
                                b2=config.optim.b2)

  def data_streams(self):
    return {"style": adain_config.stream(self.config)}

  @functools.cached_property
  def encoder_weights(self) -> dict:
    """model.vgg's weights up to relu4_1 (loaded once, on first use)."""
    net = nets.load(self.config.model.vgg, dataset="",
                    data_dir=resolve_data_dir(
                        self.config.data.data_dir or None))
    log.info("Encoder: %s (%s), up to relu4_1.", net.name,
             net.input_description)
    return vgg.truncate(net.weights, adain.CONTENT_LAYER)

  def _init(self, encoder) -> AdainState:
    _, decoder = variables.split(adain_model.build_decoder(
        self.model_values, self.data_values, self.config.train.seed))
    return AdainState(step=jnp.zeros((), jnp.int32), decoder=decoder,
                      opt=self.optimizer.init(decoder.params),
                      encoder=encoder)

  def init_state(self) -> AdainState:
    return self._init(self.encoder_weights)

  def abstract_state(self, mesh: Mesh):
    whole = sharding.replicated(mesh)
    return jax.tree.map(
        lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=whole),
        jax.eval_shape(self._init, adain_model.encoder_shapes()))

  def create_state(self, mesh: Mesh):
    # Initialised on one device and then replicated: one compiled init for
    # every mesh (it took 16-30 s to compile on 2 busy CPU cores, mostly
    # the random numbers), where init_replicated compiles one per mesh.
    # The state is small; a large model would want init_replicated.
    state = jax.jit(self._init)(self.encoder_weights)
    return jax.device_put(state,
                          sharding.shardings_of(self.abstract_state(mesh)))

  def weight_fields(self, state) -> tuple[str, ...]:
    return ("decoder", "encoder")

  def step_fn(self, mesh: Mesh):
    del mesh  # the batch's sharding is all the step needs
    weights = self.config.loss

    def step_fn(state: AdainState, batch):
      encode = functools.partial(adain_model.encode, state.encoder)
      content = encode(batch["image"],
                       (adain.CONTENT_LAYER,))[adain.CONTENT_LAYER]
      style = encode(batch["style_image"], adain.STYLE_LAYERS)
      wanted = {layer: adain.mean_std(style[layer])
                for layer in adain.STYLE_LAYERS}
      target = adain.adain(content, style[adain.CONTENT_LAYER])

      def objective(params):
        images = adain_model.decode(self.decoder_def, state.decoder, target,
                                    params)
        found = encode(images, adain.STYLE_LAYERS)
        terms = {"content_loss": adain.content_loss(
                     found[adain.CONTENT_LAYER], target),
                 "style_loss": adain.style_loss(found, wanted)}
        total = (weights.content_weight * terms["content_loss"] +
                 weights.style_weight * terms["style_loss"])
        return total, terms

      decoder, opt, loss, terms = base.descend(self.optimizer, state.decoder,
                                               state.opt, objective)
      return (state.replace(step=state.step + 1, decoder=decoder, opt=opt),
              {"loss": loss, **terms})

    return step_fn

  def networks(self, state: AdainState):
    """(encoder weights, decoder) of a state on the default device: what
    stylising needs, for programs on one device (the same for every
    mesh)."""
    return jax.device_put(jax.tree.map(sharding.to_host,
                                       (state.encoder, state.decoder)),
                          jax.devices()[0])

  @functools.cached_property
  def stylize_pairs(self):
    """(networks, contents [B, R, R, 3], styles [B, R, R, 3]) ->
    (stylised images, per pair its content and style loss), jitted; α = 1."""
    def one(networks, content, style):
      encode_fn, decode_fn = adain_model.stylizer(self.decoder_def, networks)
      image, parts = adain.stylize_one(encode_fn, decode_fn, content, [style])
      terms = adain.losses_one(encode_fn, parts)
      return image, terms["content_loss"], terms["style_loss"]
    return jax.jit(jax.vmap(one, in_axes=(None, 0, 0)))

  def eval_pairs(self, count: int) -> tuple[np.ndarray, np.ndarray]:
    """Held-out (contents, styles), each [N, R, R, 3]: the first `count`
    content images of eval.split, content i with style image i mod n of
    eval.style_split (centre crops)."""
    settings = self.config.eval
    contents, _ = quality.read_split(self.config.data, settings.split, count)
    styles, _ = quality.read_split(
        adain_config.stream(self.config, settings.style_split),
        settings.style_split, count)
    return contents, styles[np.arange(len(contents)) % len(styles)]

  def evaluate(self, state, mesh: Mesh, *, extractor: str | None = None,
               num_samples: int | None = None) -> dict:
    """Content and style losses of the held-out pairs (eval.num_images, or
    --num_samples), and stylised images per second on them (a second pass,
    after compilation)."""
    del mesh
    if extractor is not None:
      raise UserError("--extractor is for generator runs; an adain run is "
                      "measured by its content and style losses.")
    if num_samples is not None and num_samples < 1:
      raise UserError(f"--num_samples={num_samples} must be positive.")
    contents, styles = self.eval_pairs(num_samples or
                                       self.config.eval.num_images)
    run = functools.partial(self.stylize_pairs, self.networks(state))
    size = self.config.eval.batch_size
    # Padded to whole batches: one compiled program.
    padded = -len(contents) % size
    contents = np.concatenate([contents, contents[:1].repeat(padded, 0)])
    styles = np.concatenate([styles, styles[:1].repeat(padded, 0)])
    jax.block_until_ready(run(contents[:size], styles[:size]))
    start = time.perf_counter()
    results = [jax.block_until_ready(run(contents[i:i + size],
                                         styles[i:i + size]))
               for i in range(0, len(contents), size)]
    seconds = time.perf_counter() - start
    count = len(contents) - padded
    content_loss = np.concatenate([np.asarray(r[1]) for r in results])[:count]
    style_loss = np.concatenate([np.asarray(r[2]) for r in results])[:count]
    weights = self.config.loss
    return {"num_images": count, "resolution": self.config.data.resolution,
            "content_loss": float(np.mean(content_loss)),
            "style_loss": float(np.mean(style_loss)),
            "loss": float(weights.content_weight * np.mean(content_loss) +
                          weights.style_weight * np.mean(style_loss)),
            "images_per_second": len(contents) / seconds}

  def periodic(self, run: base.RunContext) -> list[base.PeriodicWork]:
    contents, styles = self.eval_pairs(GRID_PAIRS)

    def grid(state):
      """Held-out pairs: content, style and stylised rows."""
      images, _, _ = self.stylize_pairs(self.networks(state), contents,
                                        styles)
      return np.concatenate([contents, styles, np.asarray(images)]), 3

    work = [base.grid_work(run, self.config.train.sample_every_steps,
                           "stylised", grid)]
    if self.config.eval.every_steps:
      work.append(base.eval_work(
          run, self.config.eval.every_steps,
          lambda state: self.evaluate(state, run.mesh), _describe))
    return work

  def summary(self, step: int, results: dict, workdir: str) -> str:
    del workdir
    return base.summary_text(step, results, _describe)


def _describe(row: dict) -> str:
  return (f"Held-out content loss {row['content_loss']:.4f}, style loss "
          f"{row['style_loss']:.4f}")
