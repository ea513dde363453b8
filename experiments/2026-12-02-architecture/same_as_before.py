"""Runs probe.py on cnnjax at commit a8c0012 (a git worktree) and on this
checkout, in separate processes on one CPU device, and prints which initial
networks and 4-step runs are bitwise the same.

  .venv/bin/python experiments/2026-12-02-architecture/same_as_before.py
"""

import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
BEFORE = "a8c0012"
WORKTREE = os.path.join("/tmp", f"cnnjax-{BEFORE}")


def probe(root):
  env = {**os.environ, "PYTHONPATH": root, "CNNJAX_COMPILATION_CACHE": "off",
         "XLA_FLAGS": "", "CNNJAX_NO_DOWNLOAD": "1"}
  result = subprocess.run([sys.executable, os.path.join(HERE, "probe.py")],
                          cwd=root, env=env, capture_output=True, text=True,
                          check=True)
  return json.loads(result.stdout)


def main():
  if not os.path.isdir(WORKTREE):
    subprocess.run(["git", "worktree", "add", "--detach", WORKTREE, BEFORE],
                   cwd=REPO, check=True)
  before, after = probe(WORKTREE), probe(REPO)
  same = [k for k in before["initial"]
          if before["initial"][k] == after["initial"][k]]
  print(f"initial G and D variables bitwise equal: {len(same)} of "
        f"{len(before['initial'])} configs")
  for name, old in before["runs"].items():
    new = after["runs"][name]
    verdict = ("bitwise equal" if old == new else
               "rows differ" if old["rows"] != new["rows"] else
               "weights differ")
    print(f"{name}: {verdict}")


if __name__ == "__main__":
  main()
