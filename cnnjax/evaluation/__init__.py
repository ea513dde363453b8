"""Sample-quality evaluation: feature extractors by name, cached reference
statistics, and the evaluator that `cnnjax eval` and training share."""
