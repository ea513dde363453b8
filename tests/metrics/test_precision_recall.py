"""Improved precision/recall on point sets with known answers, and against a
brute-force scipy/sklearn computation.

Integer coordinates keep every squared distance exact in float64, so ties at
the radius are decided exactly, as the definition says (inside includes the
boundary).
"""

import numpy as np
import pytest
from scipy.spatial.distance import cdist
from sklearn.neighbors import NearestNeighbors

from cnnjax.metrics import knn_squared_radii, precision_recall


def on_a_line(xs):
  """Points (x, 0) as [N, 2] features."""
  return np.stack([np.asarray(xs, dtype=np.float64), np.zeros(len(xs))], 1)


def brute_force_precision_recall(real, fake, k):
  def radii(features):
    # The nearest neighbour of each point in its own set is itself, at 0.
    nearest = NearestNeighbors(n_neighbors=k + 1).fit(features)
    return nearest.kneighbors(features)[0][:, k]
  distances = cdist(fake, real)  # [fake, real]
  precision = np.mean(np.any(distances <= radii(real)[None, :], axis=1))
  recall = np.mean(np.any(distances <= radii(fake)[:, None], axis=0))
  return precision, recall


def test_identical_sets_are_fully_precise_and_recalled():
  features = np.random.default_rng(0).standard_normal((200, 16))
  assert precision_recall(features, features.copy()) == (1.0, 1.0)


def test_a_far_away_fake_set_is_neither():
  real = np.random.default_rng(1).standard_normal((100, 8))
  fake = np.random.default_rng(2).standard_normal((120, 8)) + 100.0
  assert precision_recall(real, fake) == (0.0, 0.0)


def test_fake_set_covering_one_of_two_real_clusters():
  # Real: two clusters of 20 points spaced 2 apart, far from each other.
  # Fake: 19 points midway between the first cluster's points. Each fake point
  # is 1 from a real point whose k=3 radius is >= 4, and each first-cluster
  # real point is 1 from a fake point whose radius is >= 4: precision 1,
  # recall exactly one half.
  cluster = np.arange(0, 40, 2)
  real = on_a_line(np.concatenate([cluster, cluster + 1000]))
  fake = on_a_line(cluster[:-1] + 1)
  assert precision_recall(real, fake, k=3) == (1.0, 0.5)
  assert precision_recall(fake, real, k=3) == (0.5, 1.0)  # roles swapped


def test_a_point_exactly_on_the_radius_is_inside():
  # k=1: both real points have radius 4 (each other's distance).
  real = on_a_line([0, 4])
  fake = on_a_line([8, 9])  # 8 is on the boundary of 4's ball, 9 outside
  precision, _ = precision_recall(real, fake, k=1)
  assert precision == 0.5


def test_knn_radii_on_a_line():
  # Spacing 1, k=3: end points reach their 3rd neighbour at 3, the next ones
  # at 2 (neighbours at 1, 1, 2), as every interior point.
  radii = knn_squared_radii(on_a_line(np.arange(8)), k=3, batch_size=3)
  np.testing.assert_array_equal(np.sqrt(radii), [3, 2, 2, 2, 2, 2, 2, 3])


def test_duplicates_count_as_neighbours_at_zero():
  points = on_a_line([0, 0, 0, 5, 10])
  radii = knn_squared_radii(points, k=2)
  np.testing.assert_array_equal(np.sqrt(radii), [0, 0, 0, 5, 10])


@pytest.mark.parametrize("k,batch_size", [(1, 1000), (3, 64), (5, 7)])
def test_matches_brute_force_on_random_data(k, batch_size):
  rng = np.random.default_rng(k)
  real = rng.standard_normal((300, 10))
  fake = 1.3 * rng.standard_normal((250, 10)) + 0.2
  got = precision_recall(real, fake, k=k, batch_size=batch_size)
  want = brute_force_precision_recall(real, fake, k)
  assert 0 < got[0] < 1 and 0 < got[1] < 1  # a test with something to decide
  assert got == pytest.approx(want, abs=1e-12)


def test_knn_radii_match_sklearn():
  features = np.random.default_rng(9).uniform(size=(150, 5)).astype(np.float32)
  nearest = NearestNeighbors(n_neighbors=4).fit(features.astype(np.float64))
  want = nearest.kneighbors(features.astype(np.float64))[0][:, 3]
  got = np.sqrt(knn_squared_radii(features, k=3, batch_size=16))
  np.testing.assert_allclose(got, want, rtol=1e-10)


def test_bad_inputs_are_refused():
  with pytest.raises(ValueError, match="k must be"):
    precision_recall(np.ones((3, 2)), np.ones((10, 2)), k=3)
  with pytest.raises(ValueError, match="dimensions"):
    precision_recall(np.ones((10, 2)), np.ones((10, 3)))
