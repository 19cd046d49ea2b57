#!/usr/bin/env bash
# Set everything up, start a local ZooKeeper and run the demo against it.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/python examples/demo.py "$@"
