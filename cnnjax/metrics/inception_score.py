"""Metrics on a classifier's predictions for generated samples.

Inception Score (Salimans et al. 2016): exp(E_x KL(p(y|x) || p(y))), with p(y)
the mean prediction, computed per split and reported as mean and std over the
splits, as the original improved-GAN code does. Class accuracy: how often a
class-conditional sample is classified as the class it was asked for.
"""

import numpy as np

# Tolerance on row sums: float32 softmax outputs sum to 1 within ~1e-6; rows
# further off are logits or unnormalized scores, which give a wrong IS.
ROW_SUM_TOLERANCE = 1e-3


def _as_probabilities(probabilities) -> np.ndarray:
  array = np.asarray(probabilities, dtype=np.float64)
  if array.ndim != 2:
    raise ValueError(f"probabilities must be [num_samples, num_classes], got "
                     f"shape {array.shape}.")
  if not np.all(np.isfinite(array)) or np.any(array < 0):
    raise ValueError("probabilities must be finite and non-negative; pass "
                     "softmax outputs, not logits.")
  if np.any(np.abs(array.sum(axis=1) - 1) > ROW_SUM_TOLERANCE):
    raise ValueError("probability rows must sum to 1; pass softmax outputs, "
                     "not logits.")
  return array


def _xlogy(x: np.ndarray, y: np.ndarray) -> np.ndarray:
  """x * log(y), with 0 * log(0) = 0 (the limit KL(p || q) needs)."""
  safe_y = np.where(x > 0, y, 1.0)
  return np.where(x > 0, x * np.log(safe_y), 0.0)


def inception_score(probabilities, num_splits: int = 10) -> tuple[float, float]:
  """(mean, std) of the Inception Score over `num_splits` contiguous splits.

  `probabilities` are [N, K] class probabilities p(y|x); split i holds rows
  [i * N // num_splits, (i + 1) * N // num_splits). std is the population std
  (ddof=0) over splits, as in the original code.
  """
  probabilities = _as_probabilities(probabilities)
  count = probabilities.shape[0]
  if not 1 <= num_splits <= count:
    raise ValueError(f"num_splits must be in [1, {count}], got {num_splits}.")
  scores = np.empty(num_splits, dtype=np.float64)
  for split in range(num_splits):
    part = probabilities[split * count // num_splits:
                         (split + 1) * count // num_splits]
    marginal = part.mean(axis=0, keepdims=True)
    # Where p(y|x) > 0, p(y) > 0 too, so every log below is finite.
    kl = _xlogy(part, part) - _xlogy(part, marginal)
    scores[split] = np.exp(kl.sum(axis=1).mean())
  return float(scores.mean()), float(scores.std())


def class_accuracy(probabilities_or_logits, labels) -> float:
  """Share of samples whose argmax class equals their intended label.

  Works on probabilities or logits alike (softmax keeps the argmax); ties go
  to the lowest class index, as numpy's argmax.
  """
  scores = np.asarray(probabilities_or_logits)
  labels = np.asarray(labels)
  if scores.ndim != 2 or labels.shape != (scores.shape[0],):
    raise ValueError(f"Expected [N, K] scores and [N] labels, got "
                     f"{scores.shape} and {labels.shape}.")
  if scores.shape[0] == 0:
    raise ValueError("class_accuracy needs at least one sample.")
  if not np.all(np.isfinite(scores)):
    raise ValueError("class scores contain NaN or Inf values.")
  return float(np.mean(np.argmax(scores, axis=1) == labels))
