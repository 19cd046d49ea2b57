#!/usr/bin/env bash
# Run the whole test suite twice: with the compiled Cython codec, then with the
# pure-Python codec (ZKFAST_NO_EXTENSIONS=1). Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
PY=.venv/bin/python
echo ">> test run 1/2: Cython codec"
ZKFAST_REQUIRE_CYTHON=1 "$PY" -m pytest -q "$@"
echo ">> test run 2/2: pure-Python codec (ZKFAST_NO_EXTENSIONS=1)"
ZKFAST_NO_EXTENSIONS=1 "$PY" -m pytest -q "$@"
