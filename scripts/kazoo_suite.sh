#!/usr/bin/env bash
# Run kazoo's own test suite (kazoo/tests from its sdist, unedited) against zkfast.kazoo,
# against the real kazoo (the baseline), or both, and compare.
#
#   bash scripts/kazoo_suite.sh zkfast [pytest args]   # kazoo imports -> zkfast.kazoo (default)
#   bash scripts/kazoo_suite.sh kazoo  [pytest args]   # the real kazoo, same files and selection
#   bash scripts/kazoo_suite.sh both                   # kazoo, then zkfast.kazoo on the Cython and
#                                                      # on the pure-Python codec: each zkfast.kazoo
#                                                      # run must pass at least as many tests as
#                                                      # kazoo (exit 1 if not)
#
# The sdist comes from the package index (pip download kazoo==$KAZOO_SUITE_VERSION, default
# 2.11.0) into .cache/kazoo-suite/. The selection -- which files and tests run, and why the
# others do not -- is scripts/kazoo_suite/excluded.txt; the import redirection is
# scripts/kazoo_suite/kazoo_suite_plugin.py. zkfast.kazoo runs on zkfast.kazoo.testing's
# cluster (zkfast.testing: 3 servers, TLS, reconfig); the real kazoo on its own harness,
# which needs pyOpenSSL<26.2, pyjks and ZOOKEEPER_CLASSPATH/ZOOKEEPER_VERSION (set here
# from zkfast.testing's ZooKeeper). Both need objgraph (test_cache.py imports it).
# Results: .cache/kazoo-suite/<target>.xml (JUnit). On this project's 2 shared cores kazoo
# takes about 6 minutes (its harness restarts its cluster after every test class) and
# zkfast.kazoo 1.5-2.5 minutes per codec; `both` about 10. ZKFAST_NO_EXTENSIONS=1 runs a
# single zkfast target on the pure-Python codec.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
PY=${PYTHON:-$ROOT/.venv/bin/python}
VERSION=${KAZOO_SUITE_VERSION:-2.11.0}
CACHE=${KAZOO_SUITE_CACHE:-$ROOT/.cache/kazoo-suite}
TARGET=${1:-zkfast}
[ $# -gt 0 ] && shift
case "$TARGET" in zkfast|kazoo|both) ;; *) echo "usage: $0 [zkfast|kazoo|both] [pytest args]" >&2; exit 2;; esac

mkdir -p "$CACHE"
SDIST=$CACHE/kazoo-$VERSION
if [ ! -d "$SDIST/kazoo/tests" ]; then
    echo ">> fetching the kazoo $VERSION sdist"
    "$PY" -m pip download -q --no-binary :all: --no-deps "kazoo==$VERSION" -d "$CACHE"
    tar -xzf "$CACHE/kazoo-$VERSION.tar.gz" -C "$CACHE"
fi
if ! "$PY" -c "import objgraph, OpenSSL, jks, kazoo" 2>/dev/null; then
    echo ">> installing the suite's test dependencies"
    "$PY" -m pip install -q objgraph "pyOpenSSL<26.2" pyjks "kazoo==$VERSION"
fi

CLASSPATH_ZK=$("$PY" -c "from zkfast.testing import find_classpath; print(find_classpath())")
ZK_VERSION=$(java -cp "$CLASSPATH_ZK" org.apache.zookeeper.version.VersionInfoMain 2>/dev/null \
             | sed -n 's/.*version \([0-9.]*\).*/\1/p' | head -1)
# kazoo's harness uses fixed ports from an offset: pick a free range
PORT_OFFSET=$("$PY" - <<'PYEOF'
import random, socket
for _ in range(200):
    base = random.randrange(20000, 40000, 100)
    try:
        socks = []
        for p in range(base, base + 40):
            s = socket.socket(); s.bind(("127.0.0.1", p)); socks.append(s)
    except OSError:
        continue
    finally:
        for s in socks:
            s.close()
    print(base)
    break
PYEOF
)

run() {
    local target=$1 out=$2; shift 2
    local paths=()
    # no test paths given: the whole kazoo/tests directory
    case " $* " in *" $SDIST/kazoo/tests"*|*"kazoo/tests/"*) ;; *) paths=("$SDIST/kazoo/tests");; esac
    echo ">> kazoo $VERSION's tests against $target"
    env KAZOO_SUITE_TARGET="$target" KAZOO_SUITE_SDIST="$SDIST" \
        ZKFAST_NO_EXTENSIONS="${ZKFAST_NO_EXTENSIONS:-0}" \
        ZOOKEEPER_CLASSPATH="$CLASSPATH_ZK" ZOOKEEPER_VERSION="${ZK_VERSION:-3.8.0}" \
        ZOOKEEPER_PORT_OFFSET="$PORT_OFFSET" PYTHONPATH="$ROOT/scripts/kazoo_suite" \
        "$PY" -m pytest -c "$ROOT/scripts/kazoo_suite/pytest.ini" --rootdir "$SDIST" \
        -p kazoo_suite_plugin "${paths[@]}" --junitxml "$CACHE/$out.xml" -q "$@" || true
}

if [ "$TARGET" = both ]; then
    run kazoo kazoo "$@"
    ZKFAST_NO_EXTENSIONS=0 run zkfast zkfast-cython "$@"
    ZKFAST_NO_EXTENSIONS=1 run zkfast zkfast-python "$@"
    status=0
    for codec in cython python; do
        echo ">> zkfast.kazoo ($codec codec) against kazoo"
        "$PY" "$ROOT/scripts/kazoo_suite/compare.py" "$CACHE/kazoo.xml" "$CACHE/zkfast-$codec.xml" \
            || status=1
    done
    exit $status
else
    run "$TARGET" "$TARGET" "$@"
    "$PY" "$ROOT/scripts/kazoo_suite/compare.py" "$CACHE/$TARGET.xml"
fi
