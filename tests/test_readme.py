"""The README opens with the two commands, and CI runs the second as written."""

import os
import re

from tests.conftest import REPO


def _readme_commands():
  text = open(os.path.join(REPO, "README.md")).read()
  return re.findall(r"```bash\n(.*?)\n```", text, flags=re.S)[:2], text


def test_readme_opens_with_two_commands():
  (quickstart, tests), text = _readme_commands()
  # Nothing but the title comes before the two commands.
  assert text.index(quickstart) < text.index("\n---")
  assert text.splitlines()[0].startswith("# ")
  assert "cnnjax train" in quickstart and "launch/setup.sh" in quickstart
  assert "pytest" in tests and "launch/setup.sh" in tests


def test_ci_runs_the_readme_test_command():
  (_, tests), _ = _readme_commands()
  ci = open(os.path.join(REPO, ".ci", "run")).read()
  assert tests.strip() in ci.splitlines()
