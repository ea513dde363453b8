"""Fixtures for the data tests: isolated data dirs, small IDX files, configs.

Every test runs with its own empty data dir, without the environment's
Fashion-MNIST folders and without downloads, so no test depends on what is
installed or reachable (except the one that asks for Debian's package).
"""

import pytest

from cnnjax.data import fashion_mnist
from data_test_utils import write_fashion_idx


@pytest.fixture(autouse=True)
def isolated_data(monkeypatch, tmp_path):
  """An empty data dir, no IDX folders found, downloads off."""
  data_dir = tmp_path / "data_dir"
  monkeypatch.setenv("CNNJAX_DATA_DIR", str(data_dir))
  monkeypatch.delenv("TFDS_DATA_DIR", raising=False)
  monkeypatch.delenv(fashion_mnist.ENV_IDX_DIR, raising=False)
  monkeypatch.setenv(fashion_mnist.ENV_NO_DOWNLOAD, "1")
  monkeypatch.setattr(fashion_mnist, "debian_idx_dir", lambda: None)
  return data_dir


@pytest.fixture
def idx_dir(tmp_path, monkeypatch):
  """A folder of small gzipped IDX files, named by $CNNJAX_FASHION_MNIST_DIR.

  The fixture's value is (folder, arrays) as write_fashion_idx returns them.
  """
  folder = str(tmp_path / "idx")
  arrays = write_fashion_idx(folder, seed=1)
  monkeypatch.setenv(fashion_mnist.ENV_IDX_DIR, folder)
  return folder, arrays
