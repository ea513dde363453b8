"""The latent spaces that inversion and edits work in.

  z    [N, latent_dim]        every generator's input, prior N(0, I)
  w    [N, w_dim]             StyleGAN2's intermediate latent, mapping(z,
                              labels): one w drives every layer (what
                              StyleGAN2-ADA's projector optimises)
  w+   [N, num_ws * w_dim]    one w per synthesis layer (Image2StyleGAN's
                              W+, pSp/e4e's encoder output), flattened
                              layer by layer so that every edit sees a
                              vector; reshape to [N, num_ws, w_dim]

Only generators with a W space (StyleGAN2) have w and w+. In w and w+ the
class of a conditional generator is already in the latent (the mapping
took it), so generation ignores labels there, and synthesis uses the
generator's constant noise ("const"): an image is a function of its
latent alone, which is what inverting and editing it needs.

The optimisation's start and prior per space: z starts at 0 (the prior's
mean) with the shell regulariser (mean(z^2) - 1)^2; w and w+ start at
w_avg (as the projector does); w+ has e4e's regulariser, the mean squared
distance of each layer's w from the first layer's, which keeps codes near
W (where edits behave); w has none.
"""

import jax
import jax.numpy as jnp
import numpy as np

from cnnjax.errors import UserError

SPACES = ("z", "w", "w+")
STYLE_GENERATORS = ("stylegan2",)  # the generators with a W space


def available(generator_name: str) -> tuple[str, ...]:
  return SPACES if generator_name in STYLE_GENERATORS else ("z",)


def default(generator_name: str) -> str:
  """W for a style-based generator (the projector's space), else z."""
  return "w" if generator_name in STYLE_GENERATORS else "z"


def check(space: str, generator_name: str, where: str = "--space") -> None:
  if space not in SPACES:
    raise UserError(f"{where}={space!r}: use one of {', '.join(SPACES)}.")
  if space not in available(generator_name):
    raise UserError(f"{where}={space}: the {generator_name!r} generator has "
                    "only z (w and w+ need a generator with a mapping "
                    "network: stylegan2).")


class Space:
  """One space of one generator module: generation, start, prior and
  sampling as pure functions of (module, arrays), traced under jit."""

  def __init__(self, name: str, generator_name: str, latent_dim: int,
               w_dim: int | None = None, num_ws: int | None = None):
    check(name, generator_name)
    self.name, self.latent_dim = name, latent_dim
    self.w_dim, self.num_ws = w_dim, num_ws
    self.size = {"z": latent_dim, "w": w_dim,
                 "w+": (num_ws or 0) * (w_dim or 0)}[name]

  def __repr__(self):
    return f"Space({self.name!r}, size={self.size})"

  def generate(self, module, latents: jax.Array, labels=None) -> jax.Array:
    """Images in [-1, 1] (batch norm in inference mode)."""
    if self.name == "z":
      return module(latents, labels, train=False)
    ws = self.layers(latents)
    return module.synthesis(ws, noise_mode="const").astype(jnp.float32)

  def layers(self, latents: jax.Array) -> jax.Array:
    """w or w+ latents [N, size] -> W+ [N, num_ws, w_dim]."""
    if self.name == "w":
      return jnp.broadcast_to(latents[:, None],
                              (latents.shape[0], self.num_ws, self.w_dim))
    return latents.reshape(latents.shape[0], self.num_ws, self.w_dim)

  def from_z(self, module, z: jax.Array, labels=None) -> jax.Array:
    """The latents in this space of generator inputs z (and labels)."""
    if self.name == "z":
      return z
    w = module.mapping(z, labels)
    return w if self.name == "w" else jnp.tile(w, (1, self.num_ws))

  def start(self, module, count: int) -> jax.Array:
    """Where optimisation starts: z = 0, or w_avg in every layer."""
    if self.name == "z":
      return jnp.zeros((count, self.latent_dim), jnp.float32)
    w_avg = module.w_avg.astype(jnp.float32)
    reps = 1 if self.name == "w" else self.num_ws
    return jnp.tile(w_avg[None], (count, reps))

  def prior(self, latents: jax.Array) -> jax.Array:
    """The per-image regulariser (see the module docstring)."""
    if self.name == "z":
      return (jnp.mean(latents ** 2, axis=-1) - 1.0) ** 2
    if self.name == "w+":
      ws = self.layers(latents)
      return jnp.mean((ws - ws[:, :1]) ** 2, axis=(1, 2))
    return jnp.zeros(latents.shape[:1], latents.dtype)


def style_kernel(params) -> np.ndarray:
  """SeFa's weight for a StyleGAN2: the kernels of every convolution
  layer's `affine` (W -> that layer's styles) side by side, [w_dim, sum of
  styles]; the official SeFa code concatenates the convolution layers'
  style weights the same way (not toRGB's).
  Each kernel's equalised-lr gain scales all its columns alike, and SeFa
  normalises every column, so the stored weights serve as they are."""
  kernels = []
  for path, leaf in jax.tree_util.tree_flatten_with_path(params)[0]:
    keys = [getattr(p, "key", getattr(p, "name", None)) for p in path]
    if ("convs" in keys and "affine" in keys
        and "weight" in keys[keys.index("affine"):]):
      kernels.append(np.asarray(leaf))
  if not kernels:
    raise UserError("This generator has no `affine` style layers; SeFa in W "
                    "needs a StyleGAN2 generator.")
  return np.concatenate(kernels, axis=1)
