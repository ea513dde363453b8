"""Sample-quality metrics on features and class predictions, in float64.

FID, KID and precision/recall take [N, D] feature arrays (numpy or jax);
Inception Score and class accuracy take [N, K] classifier outputs.
"""

from cnnjax.metrics.fid import fid_from_features, frechet_distance
from cnnjax.metrics.inception_score import class_accuracy, inception_score
from cnnjax.metrics.kid import kid_from_features
from cnnjax.metrics.precision_recall import knn_squared_radii, precision_recall
from cnnjax.metrics.stats import StatisticsAccumulator, feature_statistics

__all__ = [
    "StatisticsAccumulator",
    "class_accuracy",
    "feature_statistics",
    "fid_from_features",
    "frechet_distance",
    "inception_score",
    "kid_from_features",
    "knn_squared_radii",
    "precision_recall",
]
