#!/usr/bin/env bash
# Installs what the tests need, then checks formatting and lint and runs the tests.
set -euo pipefail
cd "$(dirname "$0")/.."

# torch 2.13.0 first: the CPU build where one is at hand; otherwise pip's default build.
python -m pip install -q --disable-pip-version-check "torch==2.13.0"
python -m pip install -q --disable-pip-version-check -r requirements-dev.txt

# The voice-cloning tests speak their clips with espeak-ng and convert them with sox (CI: root on Debian).
if ! command -v espeak-ng >/dev/null || ! command -v sox >/dev/null; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq espeak-ng sox >/dev/null; } ||
            echo "could not install espeak-ng and sox; the cloning tests that need them will be skipped" >&2
    fi
fi

ruff format --check .
ruff check .
python -m pytest -q -p no:cacheprovider "$@"
