"""Global colour and contrast adjustments: pure, differentiable JAX.

  corrected = adjust.correct(pixels, params)     # what `cnnjax enhance` applies
  degraded = adjust.degrade(pixels, params)      # what training undoes
  params = adjust.sample(key, (batch,), ranges)  # a random degradation
  named = adjust.named(params)                   # {"exposure": ..., ...}

Pixels are RGB display values in [0, 1] (sRGB-encoded, as a photo editor's
sliders act on them), float [..., 3]; cnnjax's [-1, 1] images are mapped
to [0, 1] first. A parameter vector [..., NUM_PARAMS] holds, in order:

  exposure        1  stops: every value times 2^e
  white_balance   2  stops of red and blue gains against green, the three
                     gains then divided by their luma (BT.601), so that a
                     grey keeps its brightness
  contrast        1  stops: (x - 0.5) times 2^c around mid-grey
  saturation      1  stops: (x - luma) times 2^s around each pixel's luma
                     (which it keeps)
  tone_curve      K  logits of a K-segment piecewise-linear curve on [0, 1]:
                     segment k rises by softmax(logits)_k, so the curve is
                     monotone by construction and maps 0 to 0 and 1 to 1

All zeros is the identity. Each adjustment is a function of the pixel
alone, so an image of any size can be processed in chunks of pixels.

`correct` applies white balance, exposure, contrast, saturation, then the
tone curve (which clamps its input to [0, 1]); `degrade` applies the same
adjustments in the mirror order (tone curve first) and clips. So for a
degradation with parameters p, the correction `inverse(p)` undoes it
exactly (up to clipping and the tone curve, whose inverse is not
piecewise-linear on the same knots and is replaced by its interpolant at
them): a model that predicts correction parameters has an answer in its
own parameter space.
"""

import jax
import jax.numpy as jnp
import numpy as np

CURVE_KNOTS = 8  # segments of the tone curve
# (name, size) in the order of the parameter vector.
LAYOUT = (("exposure", 1), ("white_balance", 2), ("contrast", 1),
          ("saturation", 1), ("tone_curve", CURVE_KNOTS))
NUM_PARAMS = sum(size for _, size in LAYOUT)
# ITU-R BT.601 luma, as cnnjax.data.transforms (and PIL's convert("L")).
LUMA = (0.299, 0.587, 0.114)
MID_GREY = 0.5


def split(params: jax.Array) -> dict[str, jax.Array]:
  """{name: params[..., slice]} of a parameter vector [..., NUM_PARAMS]."""
  parts, start = {}, 0
  for name, size in LAYOUT:
    parts[name] = params[..., start:start + size]
    start += size
  return parts


def luma(pixels: jax.Array) -> jax.Array:
  """[..., 3] -> [..., 1]."""
  return pixels @ jnp.asarray(LUMA, pixels.dtype)[:, None]


def white_balance_gains(stops: jax.Array) -> jax.Array:
  """[..., 2] red and blue stops -> [..., 3] gains whose luma is 1."""
  zero = jnp.zeros_like(stops[..., :1])
  gains = jnp.exp2(jnp.concatenate([stops[..., :1], zero, stops[..., 1:]],
                                   axis=-1))
  return gains / luma(gains)


def white_balance(pixels, stops):
  return pixels * white_balance_gains(stops)


def exposure(pixels, stops):
  return pixels * jnp.exp2(stops)


def contrast(pixels, stops):
  return MID_GREY + (pixels - MID_GREY) * jnp.exp2(stops)


def saturation(pixels, stops):
  grey = luma(pixels)
  return grey + (pixels - grey) * jnp.exp2(stops)


def curve_increments(logits: jax.Array) -> jax.Array:
  """[..., K] logits -> [..., K] positive rises of the segments, summing
  to 1."""
  return jax.nn.softmax(logits, axis=-1)


def tone_curve(pixels, logits):
  """The curve of `logits` ([..., K], broadcasting against `pixels`'
  leading dims) at every value of `pixels` [..., 3], clamped to [0, 1].

  f(x) = sum_k w_k clip(K x - k, 0, 1): segment k has slope K w_k on
  [k/K, (k+1)/K]. Equal rises (logits all equal) give f(x) = x.
  """
  pixels = jnp.asarray(pixels)  # float32 unless x64 is enabled
  knots = logits.shape[-1]
  rises = curve_increments(logits)[..., None, :]  # [..., 1, K]
  ramps = jnp.clip(jnp.clip(pixels, 0.0, 1.0)[..., None] * knots -
                   jnp.arange(knots, dtype=pixels.dtype), 0.0, 1.0)
  return jnp.sum(ramps * rises, axis=-1)


def curve_knot_values(logits) -> jax.Array:
  """[..., K + 1] values of the curve at 0, 1/K, ..., 1."""
  rises = curve_increments(jnp.asarray(logits))
  return jnp.concatenate([jnp.zeros_like(rises[..., :1]),
                          jnp.cumsum(rises, axis=-1)], axis=-1)


def correct(pixels: jax.Array, params: jax.Array) -> jax.Array:
  """The correction `params` [..., NUM_PARAMS] describe, applied to
  `pixels` [..., 3] in [0, 1]; the params' leading dims broadcast against
  the pixels' (use `per_image` for batches of images). Values in [0, 1]."""
  parts = split(params)
  out = white_balance(pixels, parts["white_balance"])
  out = exposure(out, parts["exposure"])
  out = contrast(out, parts["contrast"])
  out = saturation(out, parts["saturation"])
  return tone_curve(out, parts["tone_curve"])


def degrade(pixels: jax.Array, params: jax.Array) -> jax.Array:
  """The degradation `params` describe: `correct`'s adjustments in the
  mirror order, clipped to [0, 1]."""
  parts = split(params)
  out = tone_curve(pixels, parts["tone_curve"])
  out = saturation(out, parts["saturation"])
  out = contrast(out, parts["contrast"])
  out = exposure(out, parts["exposure"])
  out = white_balance(out, parts["white_balance"])
  return jnp.clip(out, 0.0, 1.0)


def per_image(params: jax.Array) -> jax.Array:
  """[B, P] -> [B, 1, 1, P]: one parameter vector per image of a
  [B, H, W, 3] batch."""
  return params[:, None, None, :]


def sample(key: jax.Array, shape: tuple[int, ...], ranges) -> jax.Array:
  """Random degradation parameters [*shape, NUM_PARAMS].

  `ranges` (config `degrade`) gives half-widths in stops: exposure ~
  U(-exposure, exposure), each white-balance stop ~ U(-white_balance,
  white_balance), contrast and saturation likewise; the tone curve's logits
  are N(0, curve^2) each (so a curve of mild, random bends).
  """
  uniform_key, curve_key = jax.random.split(key)
  half_widths = jnp.asarray(
      [ranges["exposure"]] + [ranges["white_balance"]] * 2 +
      [ranges["contrast"], ranges["saturation"]], jnp.float32)
  uniform = jax.random.uniform(uniform_key, (*shape, 5), minval=-1.0,
                               maxval=1.0) * half_widths
  logits = ranges["curve"] * jax.random.normal(curve_key,
                                               (*shape, CURVE_KNOTS))
  return jnp.concatenate([uniform, logits], axis=-1)


def inverse(params) -> np.ndarray:
  """The correction parameters [..., NUM_PARAMS] that undo `degrade` with
  `params` (numpy float64): exact for exposure, white balance, contrast and
  saturation while nothing clips; the tone curve's inverse is its
  piecewise-linear interpolant at the K + 1 knots (exact for the identity).
  """
  params = np.asarray(params, np.float64)
  parts = {name: np.asarray(value) for name, value in split(params).items()}
  # Undoing white balance w leaves the gains g(w) g(-w), equal for all
  # three channels (a grey cast only): exposure takes it out.
  gains = np.asarray(white_balance_gains(jnp.asarray(parts["white_balance"])),
                     np.float64)
  inverse_gains = np.asarray(white_balance_gains(
      jnp.asarray(-parts["white_balance"])), np.float64)
  leftover = np.log2(gains[..., :1] * inverse_gains[..., :1])
  exposure_stops = -parts["exposure"] - leftover
  knots = np.asarray(curve_knot_values(jnp.asarray(parts["tone_curve"])),
                     np.float64)
  grid = np.linspace(0.0, 1.0, CURVE_KNOTS + 1)
  flat_knots = knots.reshape(-1, CURVE_KNOTS + 1)
  inverse_knots = np.stack([np.interp(grid, k, grid) for k in flat_knots])
  rises = np.maximum(np.diff(inverse_knots, axis=-1), 1e-12)
  logits = np.log(rises).reshape(*knots.shape[:-1], CURVE_KNOTS)
  return np.concatenate([exposure_stops, -parts["white_balance"],
                         -parts["contrast"], -parts["saturation"],
                         logits - logits.mean(axis=-1, keepdims=True)],
                        axis=-1)


def named(params) -> dict:
  """One parameter vector [NUM_PARAMS] as plain, readable numbers: stops
  for exposure, white balance ({"red", "blue"}), contrast and saturation;
  the tone curve as its K + 1 values at 0, 1/K, ..., 1."""
  parts = split(np.asarray(params, np.float64))
  rounded = lambda value: round(float(value), 4)
  # numpy, not jnp: a command printing parameters compiles nothing more.
  rises = np.exp(parts["tone_curve"] - parts["tone_curve"].max())
  knots = np.concatenate([[0.0], np.cumsum(rises / rises.sum())])
  return {"exposure": rounded(parts["exposure"][0]),
          "white_balance": {"red": rounded(parts["white_balance"][0]),
                            "blue": rounded(parts["white_balance"][1])},
          "contrast": rounded(parts["contrast"][0]),
          "saturation": rounded(parts["saturation"][0]),
          "tone_curve": [rounded(v) for v in knots]}
