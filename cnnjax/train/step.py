"""The GAN train step: a pure function of (state, batch), compiled once.

One step runs `train.n_critic` discriminator updates, each on its own real
batch and latent draw, then one generator update. The last discriminator
update and the generator update share one generator forward pass through
`jax.vjp`, as PyTorch's canonical DCGAN loop does, so with n_critic = 1 the
generator runs forward once per step.

All randomness comes from `fold_in(fold_in(fold_in(seed_key, step), critic
index), purpose)`, so a step's randomness never depends on history and
resumed or multi-device runs draw the same numbers.
"""

import jax
import jax.numpy as jnp
import optax
from flax import nnx
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from cnnjax import augment, losses, regularizers
from cnnjax.train import state as state_lib
from cnnjax.train.state import BUFFERS

# Purposes for fold_in: a new random use gets a new constant, never a reuse.
PURPOSE_LATENT = 1
PURPOSE_FAKE_LABELS = 2
PURPOSE_AUGMENT_REAL = 3
PURPOSE_AUGMENT_FAKE = 4
PURPOSE_PENALTY = 5
PURPOSE_AUGMENT_GENERATOR = 6


def _fresh(tree):
  """A copy of an NNX state whose variables belong to the current trace.

  Modules update their buffers in place, which NNX allows only at the trace
  level where the variables were created: buffers that enter a transform
  without being differentiated are rebuilt inside it.
  """
  return jax.tree.map(lambda x: x, tree)


def ema_beta(config, step: jax.Array) -> jax.Array:
  """Per-step EMA decay from a half-life in kimg, with StyleGAN2's ramp-up:
  early on the half-life is at most `rampup` times the images seen so far."""
  images_per_step = config.train.batch_size
  half_life = jnp.asarray(config.ema.half_life_kimg * 1000.0, jnp.float32)
  if config.ema.rampup > 0:
    seen = (step + 1).astype(jnp.float32) * images_per_step
    half_life = jnp.minimum(half_life, seen * config.ema.rampup)
  return 0.5 ** (images_per_step / jnp.maximum(half_life, 1e-8))


def make_step_fn(config, modules: state_lib.Modules, mesh: Mesh):
  """The un-jitted step: (state, batch) -> (new state, metrics).

  `batch` holds "image" [n_critic, B, H, W, C] and "label" [n_critic, B].
  """
  d_loss_fn, g_loss_fn = losses.LOSSES[config.loss.name]
  num_classes = config.model.num_classes
  n_critic = config.train.n_critic
  policy = config.augment.policy
  use_ada = config.augment.ada_target > 0
  gp_weight, r1_gamma, r1_every = (config.loss.gp_weight, config.loss.r1_gamma,
                                   config.loss.r1_every)
  batch_sharding = NamedSharding(mesh, PartitionSpec(state_lib.DATA_AXIS))

  def generate(g_params, g_buffers, z, labels):
    generator = nnx.merge(modules.generator, g_params, g_buffers)
    fake = generator(z, labels, train=True)
    return fake, nnx.state(generator, BUFFERS)

  def draw(key, batch_size):
    """Latents and (for conditional models) uniformly drawn class labels."""
    # threefry is partitionable, so z is the same on any number of devices.
    z = jax.lax.with_sharding_constraint(
        jax.random.normal(jax.random.fold_in(key, PURPOSE_LATENT),
                          (batch_size, config.model.latent_dim)),
        batch_sharding)
    labels = None
    if num_classes:
      labels = jax.random.randint(jax.random.fold_in(key, PURPOSE_FAKE_LABELS),
                                  (batch_size,), 0, num_classes)
    return z, labels

  def augmented(images, key, probability):
    if not policy:
      return images
    return augment.diff_augment(images, key, policy, probability)

  def discriminator_update(d_params, d_buffers, d_opt, real, real_labels,
                           fake, fake_labels, key, d_step, probability):
    """One optimizer step of D on (real, detached fake)."""
    same = config.augment.same_for_real_and_fake
    real_key = jax.random.fold_in(key, PURPOSE_AUGMENT_REAL)
    fake_key = real_key if same else jax.random.fold_in(key,
                                                        PURPOSE_AUGMENT_FAKE)
    real = augmented(real, real_key, probability)
    fake = augmented(jax.lax.stop_gradient(fake), fake_key, probability)

    def objective(d_params, d_buffers):
      discriminator = nnx.merge(modules.discriminator, d_params,
                                _fresh(d_buffers))
      real_logits = discriminator(real, real_labels, train=True)
      fake_logits = discriminator(fake, fake_labels, train=True)
      new_buffers = nnx.state(discriminator, BUFFERS)
      adversarial = d_loss_fn(real_logits, fake_logits)

      def critic(labels):
        """D as training sees it, for the penalties (which may run inside
        lax.cond's trace); their buffer updates are dropped."""
        def d_fn(images):
          module = nnx.merge(modules.discriminator, d_params,
                             _fresh(new_buffers))
          return module(images, labels, train=True)
        return d_fn

      penalties = {}
      total = adversarial
      if gp_weight > 0:
        penalties["gp"] = regularizers.gradient_penalty(
            critic(real_labels), real, fake,
            jax.random.fold_in(key, PURPOSE_PENALTY))
        total = total + gp_weight * penalties["gp"]
      if r1_gamma > 0:
        # Lazy R1: every r1_every D steps, scaled by r1_every so that lazy
        # equals eager in expectation (the optimizer is corrected for it).
        penalties["r1"] = jax.lax.cond(
            d_step % r1_every == 0,
            lambda: regularizers.r1_penalty(critic(real_labels), real),
            lambda: jnp.zeros((), jnp.float32))
        total = total + (r1_gamma / 2) * r1_every * penalties["r1"]
      return total, (new_buffers, adversarial, real_logits, fake_logits,
                     penalties)

    (_, (d_buffers, d_loss, real_logits, fake_logits, penalties)), grads = (
        jax.value_and_grad(objective, has_aux=True)(d_params, d_buffers))
    updates, d_opt = modules.d_optimizer.update(grads, d_opt, d_params)
    d_params = optax.apply_updates(d_params, updates)
    metrics = {"d_loss": d_loss, "real_logit": jnp.mean(real_logits),
               "fake_logit": jnp.mean(fake_logits),
               "real_sign": jnp.mean(jnp.sign(real_logits)), **penalties}
    return d_params, d_buffers, d_opt, metrics

  def step_fn(state, batch):
    step = state["step"]
    key = jax.random.fold_in(state["rng"], step)
    reals = batch["image"]
    real_labels = batch["label"] if num_classes else None
    batch_size = reals.shape[1]
    probability = state["ada_p"] if use_ada else config.augment.probability
    g_params = state["g_params"]

    # A Python loop, not lax.scan: XLA:CPU runs convolutions inside a while
    # loop up to 10x slower (SNGAN n_critic=5 measured 25 s/step rolled vs
    # 4 s unrolled), and n_critic is small. The update is an inner jit, so
    # JAX traces it once for all n_critic - 1 calls (tracing an SN ResNet D
    # update takes seconds); XLA inlines the calls, so the program is the
    # unrolled one.
    @jax.jit
    def critic_step(carry, g_params, key, real, labels, index, step,
                    probability):
      """D update `index` of this step, with a generator forward of its own."""
      d_params, d_buffers, d_opt, g_buffers = carry
      critic_key = jax.random.fold_in(key, index)
      z, fake_labels = draw(critic_key, batch_size)
      fake, g_buffers = generate(g_params, g_buffers, z, fake_labels)
      d_params, d_buffers, d_opt, _ = discriminator_update(
          d_params, d_buffers, d_opt, real, labels, fake, fake_labels,
          critic_key, step * n_critic + index, probability)
      return d_params, d_buffers, d_opt, g_buffers

    carry = (state["d_params"], state["d_buffers"], state["d_opt"],
             state["g_buffers"])
    for index in range(n_critic - 1):
      carry = critic_step(
          carry, g_params, key, reals[index],
          None if real_labels is None else real_labels[index],
          jnp.asarray(index, jnp.int32), step, probability)
    d_params, d_buffers, d_opt, g_buffers = carry

    # The last D update shares its generator forward with the G update.
    last = n_critic - 1
    critic_key = jax.random.fold_in(key, last)
    z, fake_labels = draw(critic_key, batch_size)
    fake, generator_vjp, g_buffers = jax.vjp(
        lambda p, b: generate(p, b, z, fake_labels), g_params, g_buffers,
        has_aux=True)
    d_params, d_buffers, d_opt, metrics = discriminator_update(
        d_params, d_buffers, d_opt, reals[last],
        None if real_labels is None else real_labels[last], fake, fake_labels,
        critic_key, step * n_critic + last, probability)

    g_augment_key = jax.random.fold_in(critic_key, PURPOSE_AUGMENT_GENERATOR)

    def generator_objective(fake_images, d_params, d_buffers):
      # The buffer updates of this pass are dropped: they would only
      # re-estimate what the discriminator step just recorded.
      discriminator = nnx.merge(modules.discriminator, d_params,
                                _fresh(d_buffers))
      seen = augmented(fake_images, g_augment_key, probability)
      return g_loss_fn(discriminator(seen, fake_labels, train=True))

    g_loss, fake_grads = jax.value_and_grad(generator_objective)(
        fake, d_params, d_buffers)
    g_grads, _ = generator_vjp(fake_grads)
    g_updates, g_opt = modules.g_optimizer.update(g_grads, state["g_opt"],
                                                  g_params)
    g_params = optax.apply_updates(g_params, g_updates)

    new_state = dict(state, step=step + 1, g_params=g_params,
                     g_buffers=g_buffers, d_params=d_params,
                     d_buffers=d_buffers, g_opt=g_opt, d_opt=d_opt)
    if "ema_params" in state:
      beta = ema_beta(config, step)
      new_state["ema_params"] = jax.tree.map(
          lambda e, p: beta * e + (1.0 - beta) * p, state["ema_params"],
          g_params)
    real_sign = metrics.pop("real_sign")
    if use_ada:
      new_state["ada_p"] = augment.ada_update(
          state["ada_p"], real_sign, target=config.augment.ada_target,
          batch_size=batch_size * n_critic,
          adjust_kimg=config.augment.ada_kimg, interval=1)
      metrics["ada_p"] = new_state["ada_p"]
    metrics["g_loss"] = g_loss
    return new_state, metrics

  return step_fn


def compile_step(config, modules: state_lib.Modules, mesh: Mesh,
                 abstract: state_lib.TrainState):
  """Jits the step with explicit shardings; the state's buffers are donated.

  Returns (jitted step, trace counter): the counter is a one-element list
  incremented each time JAX traces the step, so tests can assert it is 1.
  """
  step_fn = make_step_fn(config, modules, mesh)
  traces = [0]

  def counted(state, batch):
    traces[0] += 1
    return step_fn(state, batch)

  state_shardings = jax.tree.map(lambda x: x.sharding, abstract)
  replicated = NamedSharding(mesh, PartitionSpec())
  jitted = jax.jit(counted,
                   in_shardings=(state_shardings, batch_sharding(mesh)),
                   out_shardings=(state_shardings, replicated),
                   donate_argnums=0)
  return jitted, traces


def batch_sharding(mesh: Mesh) -> NamedSharding:
  """[n_critic, batch, ...] arrays: the batch axis split over the devices."""
  return NamedSharding(mesh, PartitionSpec(None, state_lib.DATA_AXIS))
