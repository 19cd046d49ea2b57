#!/usr/bin/env bash
# Set up a fresh machine for zkfast: Debian's ZooKeeper (with Java), a virtualenv in
# .venv, and zkfast installed in editable mode with its Cython codec compiled.
# Idempotent: re-running it only does what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

SUDO=""
if [ "$(id -u)" != "0" ] && command -v sudo >/dev/null 2>&1; then SUDO="sudo"; fi

if [ ! -f /usr/share/java/zookeeper.jar ] || ! command -v java >/dev/null 2>&1; then
    echo ">> installing Debian's zookeeper package (pulls in Java)"
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq zookeeper >/dev/null
fi

PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    echo ">> creating .venv"
    "$PY" -m venv .venv
fi
echo ">> installing zkfast (editable, compiling the Cython codec), test, lint and bench dependencies"
.venv/bin/python -m pip install -q --upgrade pip >/dev/null
.venv/bin/python -m pip install -q -e ".[test,lint,bench]"
.venv/bin/python -c 'import zkfast; print(">> zkfast", zkfast.__version__, "codec backend:", zkfast.codec_backend)'
