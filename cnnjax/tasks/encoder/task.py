"""The encoder task: train E so that G(E(x)) reconstructs x, G frozen.

The generator comes from a GAN run by warm start (`init_from`, params only)
and is never updated; it is part of the state so that an encoder run holds
everything `cnnjax invert` needs. Each step's objective (weights in
`config.loss`):

  generated pairs  z ~ N(0, I), its latent l in model.space (z itself, or
                   a StyleGAN2's w or w+), x = G(l):
                   |E(x) - l|^2 and |G(E(x)) - x|^2
  real images      x from data.split:        |G(E(x)) - x|^2, the perceptual
                   distance of G(E(x)) and x, and the space's prior
                   regulariser (z: (mean(E(x)^2) - 1)^2, N(0, I)'s shell;
                   w+: e4e's distance of each layer's w from the first's)

(pSp's latent and pixel losses, LPIPS on the classifier's features, and
e4e's regulariser). E's output is an offset from the space's start (0 in
z, w_avg in w and w+, as e4e), and its last layer starts at zero, so an
untrained encoder answers the start. Conditional generators get the
data's labels for real images and random labels for generated ones (in w
and w+ the class is inside the latent); the encoder sees images only.
"""

from typing import Any

import flax.struct
import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx
from jax.sharding import Mesh

from cnnjax import config as config_lib
from cnnjax import models, nets, sharding
from cnnjax.data.tfds_catalog import resolve_data_dir
from cnnjax.editing import generator as generator_lib
from cnnjax.editing import perceptual, quality
from cnnjax.errors import UserError
from cnnjax.models import variables
from cnnjax.tasks import base
from cnnjax.tasks.encoder import config as encoder_config

PURPOSE_LATENTS, PURPOSE_LABELS = 1, 2  # fold_in purposes within a step


@flax.struct.dataclass
class EncoderState:
  step: jax.Array
  rng: jax.Array
  encoder: variables.Network
  opt: Any
  generator: variables.Network  # frozen: loaded from the GAN run


class EncoderTask(base.Task):
  """An encoder of any registered family for a frozen generator."""

  name = "encoder"
  config_module = encoder_config

  def __init__(self, config):
    super().__init__(config)
    values = config_lib.to_dict(config)
    self.model_values, self.data_values = values["model"], values["data"]
    self.generator_def = generator_lib.graphdef(self.model_values,
                                                self.data_values)
    self.space = generator_lib.make_space(values, config.model.space)
    self.encoder_def = nnx.graphdef(nnx.eval_shape(
        lambda: self._build_encoder(0)))
    self.optimizer = optax.adam(config.optim.lr, b1=config.optim.b1,
                                b2=config.optim.b2)
    self._net = None

  def _build_encoder(self, seed: int) -> nnx.Module:
    return models.build("encoder", self.config.model.encoder,
                        resolution=self.config.data.resolution,
                        channels=self.config.data.channels,
                        compute_dtype=self.config.model.compute_dtype,
                        rngs=nnx.Rngs(seed))

  def init_state(self) -> EncoderState:
    seed = self.config.train.seed
    _, encoder = variables.split(self._build_encoder(seed))
    # A placeholder of the right shapes: the warm start replaces it.
    _, generator = variables.split(generator_lib.build(
        self.model_values, self.data_values, seed + 1))
    return EncoderState(step=jnp.zeros((), jnp.int32),
                        rng=jax.random.PRNGKey(seed), encoder=encoder,
                        opt=self.optimizer.init(encoder.params),
                        generator=generator)

  def weight_fields(self, state) -> tuple[str, ...]:
    return ("encoder", "generator")

  def encode(self, network: variables.Network, images, generator,
             params=None):
    """Latents in the space: the space's start plus E's offset."""
    offset = variables.merge(self.encoder_def, network, params)(images)
    return offset + self.space.start(self._generator(generator),
                                     images.shape[0])

  def _generator(self, network: variables.Network):
    return variables.merge(self.generator_def, network)

  def generate(self, network: variables.Network, latents, labels=None):
    return self.space.generate(self._generator(network), latents, labels)

  def perceptual_net(self):
    """The feature network of the perceptual loss (loaded once)."""
    if self._net is None:
      data = self.config.data
      self._net = nets.load(self.config.loss.perceptual_net,
                            dataset=data.name,
                            data_dir=resolve_data_dir(data.data_dir or None))
    return self._net

  def step_fn(self, mesh: Mesh):
    net = self.perceptual_net()
    try:
      layers = perceptual.layers_of(net, self.config.loss.perceptual_layers)
    except ValueError as error:
      raise UserError(f"loss.perceptual_layers: {error}") from None
    net_weights = jax.device_put(net.weights, sharding.replicated(mesh))
    weights = self.config.loss
    num_classes = self.config.model.num_classes
    latent_dim = self.config.model.generator.latent_dim
    space = self.space

    def step_fn(state: EncoderState, batch):
      images = batch["image"]
      labels = batch["label"] if num_classes else None
      key = jax.random.fold_in(state.rng, state.step)
      z = jax.random.normal(jax.random.fold_in(key, PURPOSE_LATENTS),
                            (images.shape[0], latent_dim))
      z_labels = (jax.random.randint(jax.random.fold_in(key, PURPOSE_LABELS),
                                     (images.shape[0],), 0, num_classes)
                  if num_classes else None)
      latents = space.from_z(self._generator(state.generator), z, z_labels)
      generated = self.generate(state.generator, latents, z_labels)

      def objective(params):
        found = self.encode(state.encoder, generated, state.generator,
                            params)
        regenerated = self.generate(state.generator, found, z_labels)
        codes = self.encode(state.encoder, images, state.generator, params)
        recon = self.generate(state.generator, codes, labels)
        terms = {
            "latent_loss": jnp.mean((found - latents) ** 2),
            "generated_pixel_loss": jnp.mean((regenerated - generated) ** 2),
            "pixel_loss": jnp.mean((recon - images) ** 2),
            "perceptual_loss": jnp.mean(perceptual.distance(
                net, net_weights, recon, images, layers)),
            "prior_loss": jnp.mean(space.prior(codes))}
        total = sum(weights[name.replace("_loss", "_weight")] * value
                    for name, value in terms.items())
        return total, terms

      encoder, opt, loss, terms = base.descend(self.optimizer, state.encoder,
                                               state.opt, objective)
      return (state.replace(step=state.step + 1, encoder=encoder, opt=opt),
              {"loss": loss, **terms})

    return step_fn

  def reconstruct_fn(self, state: EncoderState):
    """(images, labels) -> (G(E(images)), E(images)), jitted."""
    conditional = bool(self.config.model.num_classes)

    @jax.jit
    def reconstruct(images, labels):
      codes = self.encode(state.encoder, images, state.generator)
      return (self.generate(state.generator, codes,
                            labels if conditional else None), codes)

    return reconstruct

  def evaluator(self, mesh: Mesh, extractor: str | None = None,
                num_images: int | None = None):
    settings = self.config.eval
    images, labels = quality.read_split(self.config.data, settings.split,
                                        num_images or settings.num_images)
    return quality.ReconstructionEvaluator(
        self.config.data, images, labels, split=settings.split,
        extractor=extractor or settings.extractor, mesh=mesh,
        batch_size=settings.batch_size, num_real=settings.num_real)

  def evaluate(self, state, mesh: Mesh, *, extractor: str | None = None,
               num_samples: int | None = None) -> dict:
    """Reconstruction metrics of the first eval.num_images (or
    --num_samples) held-out images (cnnjax.editing.quality)."""
    row, _ = self.evaluator(mesh, extractor, num_samples)(
        self.reconstruct_fn(state))
    return row

  def periodic(self, run: base.RunContext) -> list[base.PeriodicWork]:
    images, labels = quality.read_split(self.config.data,
                                        self.config.eval.split, 16)

    def grid(state):
      """Held-out images (rows 1 and 3) above their reconstructions."""
      recon = np.asarray(self.reconstruct_fn(state)(images, labels)[0])
      return np.concatenate([images[:8], recon[:8], images[8:],
                             recon[8:]]), 4

    work = [base.grid_work(run, self.config.train.sample_every_steps,
                           "reconstructions", grid)]
    if self.config.eval.every_steps:
      evaluator = self.evaluator(run.mesh)
      work.append(base.eval_work(
          run, self.config.eval.every_steps,
          lambda state: evaluator(self.reconstruct_fn(state))[0], _describe))
    return work

  def summary(self, step: int, results: dict, workdir: str) -> str:
    del workdir
    return base.summary_text(step, results, _describe, "Reconstructions")


def _describe(row: dict) -> str:
  return (f"Held-out reconstruction: PSNR {row['psnr']:.2f}, SSIM "
          f"{row['ssim']:.3f}, class agreement {row['class_agreement']:.3f}")
