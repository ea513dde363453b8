#!/usr/bin/env bash
# Sets up cnnjax on a fresh Linux machine with Python 3.11+: a virtual
# environment in .venv with the package and its test tools, and Debian's
# Fashion-MNIST IDX files when apt-get can run without a prompt. Safe to
# run again: it only installs what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))' || {
  echo "cnnjax needs Python 3.11 or newer; python3 is $(python3 --version)." >&2
  exit 2
}

if [ ! -d /usr/share/datasets/fashion-mnist ] && command -v apt-get >/dev/null; then
  if [ "$(id -u)" = 0 ]; then sudo=(); elif sudo -n true 2>/dev/null; then sudo=(sudo -n); else sudo=(none); fi
  if [ "${sudo[*]-}" != none ]; then
    install=("${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q dataset-fashion-mnist)
    "${install[@]}" >/dev/null 2>&1 || {
      "${sudo[@]}" apt-get update -q >/dev/null 2>&1 && "${install[@]}" >/dev/null 2>&1
    } || echo "note: could not install dataset-fashion-mnist; see README (Data)." >&2
  else
    echo "note: apt-get needs a password here; Fashion-MNIST must come from" \
         "\$CNNJAX_FASHION_MNIST_DIR or a prepared TFDS dataset (README, Data)." >&2
  fi
fi

[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
# The versions CI tested (launch/constraints.txt), unless CNNJAX_UNPINNED=1.
pins=(-c launch/constraints.txt)
[ "${CNNJAX_UNPINNED:-0}" = 1 ] && pins=()
.venv/bin/python -m pip install -q "${pins[@]}" -e '.[dev]'
