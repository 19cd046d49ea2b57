#!/usr/bin/env bash
# Lint and type-check: `ruff check` over the sources, tests, benchmarks and examples, and
# `mypy --strict` over src/zkfast (both configured in pyproject.toml). Uses the tools in
# .venv (scripts/setup.sh installs them with the `lint` extra) if it exists, else PATH.
# Runs both, then exits non-zero if either failed.
set -uo pipefail
cd "$(dirname "$0")/.."

if [ -x .venv/bin/ruff ] && [ -x .venv/bin/mypy ]; then
    BIN=.venv/bin/
else
    BIN=""
fi
for tool in ruff mypy; do
    if ! command -v "${BIN}$tool" >/dev/null 2>&1; then
        echo "lint: $tool not found; install the linters with: .venv/bin/pip install -e \".[test,lint]\"" >&2
        exit 2
    fi
done

status=0
echo ">> ruff check src tests benchmarks examples"
"${BIN}ruff" check src tests benchmarks examples || status=1
echo ">> mypy (strict, src/zkfast)"
"${BIN}mypy" || status=1
if [ "$status" -ne 0 ]; then
    echo "lint: FAILED" >&2
fi
exit "$status"
