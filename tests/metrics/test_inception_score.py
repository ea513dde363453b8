"""Inception Score and class accuracy against known values and scipy's KL."""

import numpy as np
import pytest
from scipy.special import rel_entr, softmax

from cnnjax.metrics import class_accuracy, inception_score


def direct_inception_score(probabilities, num_splits):
  """Per split (rows [i N // s, (i + 1) N // s)), exp of the mean
  KL(p(y|x) || p(y)); scipy's rel_entr is p log(p / q) with 0 log 0 = 0.
  Rows are not renormalized, as in the original code."""
  count = len(probabilities)
  scores = []
  for split in range(num_splits):
    part = probabilities[split * count // num_splits:
                         (split + 1) * count // num_splits]
    marginal = part.mean(axis=0)
    kl = [rel_entr(row, marginal).sum() for row in part]
    scores.append(np.exp(np.mean(kl)))
  return np.mean(scores), np.std(scores)


def test_constant_predictions_score_one():
  probabilities = np.tile(softmax(np.arange(7.0)), (50, 1))
  mean, std = inception_score(probabilities, num_splits=5)
  assert mean == pytest.approx(1.0, abs=1e-12)
  assert std == pytest.approx(0.0, abs=1e-12)


@pytest.mark.parametrize("num_classes", [2, 10])
def test_confident_balanced_predictions_score_num_classes(num_classes):
  # One-hot rows, every class equally often in each of the 10 splits: the
  # zeros exercise 0 log 0 = 0.
  probabilities = np.tile(np.eye(num_classes), (10 * 3, 1))
  mean, std = inception_score(probabilities, num_splits=10)
  assert mean == pytest.approx(num_classes, rel=1e-12)
  assert std == pytest.approx(0.0, abs=1e-9)


@pytest.mark.parametrize("count,num_splits", [(100, 10), (23, 5), (40, 1)])
def test_matches_direct_computation_on_random_probabilities(count, num_splits):
  rng = np.random.default_rng(count)
  probabilities = softmax(3 * rng.standard_normal((count, 12)), axis=1)
  probabilities[::3, :4] = 0.0  # some exact zeros, rows renormalized
  probabilities /= probabilities.sum(axis=1, keepdims=True)
  mean, std = inception_score(probabilities, num_splits)
  want_mean, want_std = direct_inception_score(probabilities, num_splits)
  assert mean == pytest.approx(want_mean, rel=1e-12)
  assert std == pytest.approx(want_std, rel=1e-9, abs=1e-12)


def test_float32_probabilities_are_accepted():
  rng = np.random.default_rng(0)
  probabilities = softmax(rng.standard_normal((60, 5)), axis=1)
  mean, _ = inception_score(probabilities.astype(np.float32), num_splits=3)
  want, _ = direct_inception_score(
      probabilities.astype(np.float32).astype(np.float64), 3)
  assert mean == pytest.approx(want, rel=1e-12)


def test_logits_and_bad_splits_are_refused():
  logits = np.random.default_rng(1).standard_normal((20, 4))
  with pytest.raises(ValueError, match="logits"):
    inception_score(logits, num_splits=2)
  with pytest.raises(ValueError, match="logits"):
    inception_score(np.abs(logits), num_splits=2)
  with pytest.raises(ValueError, match="num_splits"):
    inception_score(softmax(logits, axis=1), num_splits=21)


def test_class_accuracy_by_hand():
  scores = np.array([[0.7, 0.2, 0.1],     # class 0
                     [0.1, 0.3, 0.6],     # class 2
                     [2.0, 5.0, -1.0],    # logits: class 1
                     [0.3, 0.4, 0.3]])    # class 1
  labels = np.array([0, 1, 1, 2])
  assert class_accuracy(scores, labels) == pytest.approx(0.5)
  assert class_accuracy(scores, [0, 2, 1, 1]) == 1.0


def test_class_accuracy_refuses_mismatched_shapes():
  with pytest.raises(ValueError, match="labels"):
    class_accuracy(np.ones((3, 2)), np.zeros(4, dtype=int))
