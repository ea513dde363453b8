"""launch/setup.sh installs the versions CI tested (launch/constraints.txt)."""

import os
from importlib import metadata

from cnnjax.utils import provenance
from tests.conftest import REPO


def test_the_installed_versions_are_the_pinned_ones():
  pins = {}
  with open(os.path.join(REPO, "launch", "constraints.txt")) as f:
    for line in f:
      if "==" in line and not line.startswith("#"):
        name, _, version = line.strip().partition("==")
        pins[name.lower().replace("_", "-")] = version
  for package in provenance.PACKAGES:
    if package == "cnnjax":
      continue
    assert package in pins, package
    assert metadata.version(package) == pins[package], package
