"""Latent-space edit math, independent of any network.

Interpolation (`lerp`, `slerp`), moving latents along a direction
(`apply_direction`), and three ways to find directions worth moving along:

- `fit_direction`: InterFaceGAN (Shen et al. 2020), the normal of a linear
  SVM separating latents with an attribute from latents without it;
- `sefa_directions`: SeFa (Shen & Zhou 2021), eigenvectors of the first
  layer's weights, no sampling at all;
- `pca_directions`: GANSpace (Härkönen et al. 2020), principal components of
  first-layer activations carried back to the latent space by regression.

lerp, slerp and apply_direction are jnp functions (jit-able, return jax
arrays); the fitting functions run once per model on the host and return
numpy float64 arrays. All of them accept numpy or jax inputs.
"""

import jax.numpy as jnp
import numpy as np
from sklearn.decomposition import PCA
from sklearn.svm import LinearSVC

# Below this angle (radians) slerp's weights are within ~1e-9 of lerp's and
# sin(theta) starts to lose digits; near pi the great circle is undefined.
_PARALLEL_ANGLE = 1e-4


def _interpolation_operands(a, b, ts):
  """a, b as [..., 1, d] and ts as [T, 1], which broadcast to [..., T, d]."""
  a, b, ts = jnp.asarray(a), jnp.asarray(b), jnp.asarray(ts)
  if ts.ndim != 1:
    raise ValueError(f"ts must be a vector [T], got shape {ts.shape}.")
  return a[..., None, :], b[..., None, :], ts[:, None]


def lerp(a, b, ts):
  """Linear interpolation (1 - t) a + t b: a, b [d] or [B, d], ts [T].

  Returns a jax array [T, d] (or [B, T, d]); t = 0 gives a, t = 1 gives b.
  """
  a, b, ts = _interpolation_operands(a, b, ts)
  return (1 - ts) * a + ts * b


def slerp(a, b, ts):
  """Spherical interpolation of White (2016): a, b [d] or [B, d], ts [T].

    slerp(a, b, t) = sin((1 - t) theta) / sin(theta) a
                   + sin(t theta) / sin(theta) b,

  with theta the angle between a and b (Shoemake's quaternion slerp applied
  to latents, as "Sampling Generative Networks" proposes for Gaussian z).
  The angle to a grows linearly in t; for inputs of equal norm r every point
  has norm r, which keeps interpolants at the typical radius of Gaussian
  latents, where lerp's midpoints fall inside the shell. For unequal norms
  this formula does not interpolate the norm linearly (it traces an ellipse
  through a and b). Where a and b are (nearly) parallel or antiparallel
  (angle under 1e-4 rad from 0 or pi), or one of them is zero, it falls back
  to `lerp`: there the great circle is ill-defined or sin(theta) has no digits
  left. Returns a jax array [T, d] (or [B, T, d]); t = 0 and t = 1 give a and
  b exactly.
  """
  a, b, ts = _interpolation_operands(a, b, ts)
  norm_a = jnp.linalg.norm(a, axis=-1, keepdims=True)
  norm_b = jnp.linalg.norm(b, axis=-1, keepdims=True)
  tiny = jnp.finfo(jnp.result_type(a, b, float)).tiny
  unit_a = a / jnp.maximum(norm_a, tiny)
  unit_b = b / jnp.maximum(norm_b, tiny)
  # 2 atan2(|u - v|, |u + v|) is accurate at every angle; arccos(u . v) loses
  # half the digits near 0 and pi.
  theta = 2 * jnp.arctan2(jnp.linalg.norm(unit_a - unit_b, axis=-1,
                                          keepdims=True),
                          jnp.linalg.norm(unit_a + unit_b, axis=-1,
                                          keepdims=True))
  degenerate = ((theta < _PARALLEL_ANGLE) |
                (theta > jnp.pi - _PARALLEL_ANGLE) |
                (norm_a == 0) | (norm_b == 0))
  # A safe denominator so that the unused branch of `where` stays finite
  # (NaNs there would still poison gradients).
  sin_theta = jnp.where(degenerate, 1.0, jnp.sin(theta))
  weight_a = jnp.where(degenerate, 1 - ts, jnp.sin((1 - ts) * theta) /
                       sin_theta)
  weight_b = jnp.where(degenerate, ts, jnp.sin(ts * theta) / sin_theta)
  return weight_a * a + weight_b * b


def apply_direction(latents, direction, strengths):
  """latents + s * direction for each strength: [B, d], [d], [S] -> [B, S, d].

  Returns a jax array; strength 0 gives the latents back.
  """
  latents, direction = jnp.asarray(latents), jnp.asarray(direction)
  strengths = jnp.asarray(strengths)
  if latents.ndim != 2 or direction.shape != latents.shape[1:]:
    raise ValueError(f"Expected latents [B, d] and a direction [d], got "
                     f"{latents.shape} and {direction.shape}.")
  return latents[:, None, :] + strengths[None, :, None] * direction


def _fix_signs(rows: np.ndarray) -> np.ndarray:
  """Flips each row so that its largest-magnitude entry is positive.

  Eigenvectors and principal components are defined up to sign; this makes
  the returned directions a deterministic function of the inputs.
  """
  largest = rows[np.arange(rows.shape[0]), np.argmax(np.abs(rows), axis=1)]
  return rows * np.where(largest < 0, -1.0, 1.0)[:, None]


def fit_direction(latents, positive, c: float = 1.0):
  """InterFaceGAN: the unit normal of a linear SVM, toward the positive side.

  Args:
    latents: [N, d] latent codes.
    positive: [N] bools, whether each latent's image has the attribute.
    c: the SVM's inverse regularisation strength.

  Returns:
    (direction [d] of unit length, offset, train_accuracy), numpy float64 and
    floats: the fitted boundary is {z : z . direction + offset = 0} and
    z . direction + offset > 0 predicts the attribute. InterFaceGAN edits with
    the direction alone (`apply_direction`); the offset says where along it
    the attribute flips.

  The SVM is scikit-learn's LinearSVC (liblinear; squared hinge loss, primal
  solver when N > d) with random_state=0, so the fit is deterministic. The
  official code uses libsvm's SVC(kernel="linear"), the same boundary family
  with hinge loss, whose cost grows with N^2.
  """
  latents = np.asarray(latents, dtype=np.float64)
  positive = np.asarray(positive).astype(bool)
  if latents.ndim != 2 or positive.shape != latents.shape[:1]:
    raise ValueError(f"Expected latents [N, d] and labels [N], got "
                     f"{latents.shape} and {positive.shape}.")
  if positive.all() or not positive.any():
    raise ValueError("fit_direction needs both positive and negative latents.")
  svm = LinearSVC(C=c, random_state=0, max_iter=10_000)
  svm.fit(latents, positive)
  # classes_ is [False, True], so coef_ points toward the positive side.
  normal = svm.coef_[0]
  scale = np.linalg.norm(normal)
  accuracy = float(np.mean(svm.predict(latents) == positive))
  return normal / scale, float(svm.intercept_[0] / scale), accuracy


def sefa_directions(kernel, k: int | None = None):
  """SeFa: closed-form directions from a generator's first layer.

  The first layer maps a latent z [d] to y = z @ kernel (a Linear kernel
  [d, out], as `nnx.Linear` stores it; bias and later layers do not matter).
  SeFa's directions n maximise ||n @ kernel||^2 over unit n: the top
  eigenvectors of kernel @ kernel.T (A^T A with A = kernel.T in the paper).

  As the official `factorize_weight` does, each output unit's weights are
  first scaled to unit norm: kernel / ||kernel||_axis0. That code takes the
  PyTorch weight [out, d], transposes it to [d, out] (this kernel's layout)
  and normalises along axis 0, the latent axis, so no output unit dominates
  through the scale of its weights alone. Where it calls np.linalg.eig on
  the symmetric matrix, this uses eigh (real, sorted, orthonormal).

  Args:
    kernel: [d, out] first-layer kernel. A conditional generator's kernel
      has rows for the label embedding too: pass only the latent's rows.
    k: how many directions; all d by default.

  Returns:
    (eigenvalues [k] descending, directions [k, d] with unit rows), numpy
    float64; each direction's largest-magnitude component is positive.
  """
  kernel = np.asarray(kernel, dtype=np.float64)
  if kernel.ndim != 2:
    raise ValueError(f"Expected a kernel [d, out], got shape {kernel.shape}.")
  k = kernel.shape[0] if k is None else k
  if not 1 <= k <= kernel.shape[0]:
    raise ValueError(f"k must be in [1, {kernel.shape[0]}], got {k}.")
  normalised = kernel / np.linalg.norm(kernel, axis=0, keepdims=True)
  eigenvalues, eigenvectors = np.linalg.eigh(normalised @ normalised.T)
  order = np.argsort(eigenvalues)[::-1][:k]
  return eigenvalues[order], _fix_signs(eigenvectors[:, order].T)


def pca_directions(latents, activations, k: int):
  """GANSpace for generators without an intermediate latent space.

  Härkönen et al.'s recipe for BigGAN: PCA of a layer's activations y over
  sampled latents z, then a linear regression from the activations'
  principal-component coordinates x back to the latents, z ~ x @ M; row i of
  M, normalised, is the latent direction of component i (GANSpace's
  `linreg_lstsq`: min ||A M - Z|| by least squares). Moving z along it moves
  the activations along component i, and (for a layer linear in z, as a
  first Linear layer before its nonlinearity is) along no other component.

  GANSpace scales coordinates by each component's standard deviation and
  regresses on a second sample; both only rescale rows of M, which the
  normalisation undoes, so here one sample serves both steps. Latents are
  centred, which on this centred design is the same as fitting an intercept.

  Args:
    latents: [N, d] the latents the activations came from.
    activations: [N, ...] the layer's outputs, flattened to [N, m].
    k: number of components, at most min(N, m).

  Returns:
    (directions [k, d] with unit rows, explained_variance_ratio [k]), numpy
    float64: components by decreasing variance, each one's share of the
    activations' total variance; each direction's largest-magnitude
    component is positive.
  """
  latents = np.asarray(latents, dtype=np.float64)
  activations = np.asarray(activations, dtype=np.float64)
  activations = activations.reshape(activations.shape[0], -1)
  if latents.ndim != 2 or latents.shape[0] != activations.shape[0]:
    raise ValueError(f"Expected latents [N, d] and activations [N, ...] of "
                     f"one N, got {latents.shape} and {activations.shape}.")
  # sklearn picks an exact LAPACK SVD for small problems and a randomised
  # one for large N x m with few components; random_state fixes the latter.
  pca = PCA(n_components=k, random_state=0)
  coordinates = pca.fit_transform(activations)
  centred = latents - latents.mean(axis=0)
  regression, *_ = np.linalg.lstsq(coordinates, centred, rcond=None)
  directions = regression / np.linalg.norm(regression, axis=1, keepdims=True)
  return _fix_signs(directions), pca.explained_variance_ratio_
