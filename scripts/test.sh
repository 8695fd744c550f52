#!/usr/bin/env bash
# Installs what the tests need, then checks formatting and lint and runs the tests.
set -euo pipefail
cd "$(dirname "$0")/.."

# torch 2.13.0 first: the CPU build where one is at hand; otherwise pip's default build.
python -m pip install -q --disable-pip-version-check "torch==2.13.0"
python -m pip install -q --disable-pip-version-check -r requirements-dev.txt

ruff format --check .
ruff check .
python -m pytest -q -p no:cacheprovider "$@"
