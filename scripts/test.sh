#!/usr/bin/env bash
# Installs what the tests need, then checks formatting and lint and runs the tests.
set -euo pipefail
cd "$(dirname "$0")/.."

# Programs the tests use: espeak-ng and sox make the voice clips, chromium runs the browser test.
missing=()
for program in espeak-ng sox chromium; do
    command -v "$program" >/dev/null || missing+=("$program")
done
if [ ${#missing[@]} -gt 0 ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    else
        echo "not installed: ${missing[*]} (install them to run every test; the tests that need them skip)" >&2
    fi
fi

# The exact versions of requirements-lock.txt (the tested ones; some need Python 3.11+, while the
# app itself runs on 3.10). torch first: the CPU build where one is at hand; otherwise pip's default build.
if ! python -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
    echo "the test command installs the tested versions of requirements-lock.txt, which need Python 3.11+;" \
        "this is $(python -V 2>&1)" >&2
    exit 2
fi
python -m pip install -q --disable-pip-version-check torch -c requirements-lock.txt
python -m pip install -q --disable-pip-version-check -r requirements-dev.txt -c requirements-lock.txt

ruff format --check .
ruff check .
python -m pytest -q -p no:cacheprovider "$@"
