#!/usr/bin/env bash
# Install tinyconv with its test extra into the active Python and run the test suite against the
# installed package (from tests/, so the source tree's uncompiled tinyconv/ is not imported).
set -euo pipefail
cd "$(dirname "$0")/.."
python -m pip install --quiet ".[test]"
cd tests
python -m pytest -q -p no:cacheprovider "$@"
