"""Packaging: backend selection, the two codec backends' shared API, the typing
files, the sdist configuration, and setup.py's fall-back to the pure codec.

Light and server-free (a few seconds in all), so it runs in every suite run, on
either backend, and in cibuildwheel against each installed wheel (there with
``-k "not setup_py"``: the setup.py checks need the source tree and setuptools).
The heavy path — real sdist/wheel builds, auditwheel, fresh venvs — is
scripts/check_wheels.sh.
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import inspect
import os
import re
import shutil
import subprocess
import sys
import textwrap
import tomllib
from pathlib import Path
from types import ModuleType

import pytest

import zkfast
from zkfast import _codec_py

ROOT = Path(__file__).resolve().parents[2]
PKG = Path(zkfast.__file__).resolve().parent
SOURCE_TREE = (ROOT / "setup.py").is_file() and (ROOT / "src" / "zkfast" / "_codec.pyx").is_file()
needs_source = pytest.mark.skipif(not SOURCE_TREE, reason="needs the zkfast source tree (setup.py, src/)")

_SCRUB = ("ZKFAST_NO_EXTENSIONS", "ZKFAST_REQUIRE_CYTHON", "CC", "CXX", "LDSHARED", "CFLAGS", "LDFLAGS")


def _env(**extra: str) -> dict[str, str]:
    """This process's environment minus what steers builds or backend choice,
    plus ``extra``; PYTHONPATH leads to the very zkfast under test."""
    env = {k: v for k, v in os.environ.items() if k not in _SCRUB}
    env["PYTHONPATH"] = os.pathsep.join([str(PKG.parent), *filter(None, [os.environ.get("PYTHONPATH")])])
    env.update(extra)
    return env


def _compiled() -> ModuleType | None:
    try:
        return importlib.import_module("zkfast._codec")
    except ImportError:
        return None


# --------------------------------------------------------------------------- backend choice

_PROBE = (
    "import zkfast, zkfast.codec as c; "
    "print(zkfast.codec_backend, c.backend, c.FrameReader.__module__, c.encode_get_data.__module__)"
)


def _probe(**env: str) -> list[str]:
    out = subprocess.run(
        [sys.executable, "-c", _PROBE], env=_env(**env), cwd=str(PKG.parent.parent),
        capture_output=True, text=True, timeout=60, check=False,
    )
    assert out.returncode == 0, out.stderr
    return out.stdout.split()


@pytest.mark.parametrize("value", ["1", "yes", "true"])
def test_no_extensions_env_forces_the_pure_backend(value: str) -> None:
    backend, codec_backend, frame_mod, enc_mod = _probe(ZKFAST_NO_EXTENSIONS=value)
    assert backend == codec_backend == "python"
    assert frame_mod == enc_mod == "zkfast._codec_py"


@pytest.mark.parametrize("value", [None, "", "0"])
def test_default_backend_is_the_extension_when_it_imports(value: str | None) -> None:
    env = {} if value is None else {"ZKFAST_NO_EXTENSIONS": value}
    backend, codec_backend, frame_mod, _ = _probe(**env)
    want = "cython" if _compiled() is not None else "python"
    assert backend == codec_backend == want
    assert frame_mod == ("zkfast._codec" if want == "cython" else "zkfast._codec_py")


# --------------------------------------------------------------------------- one API, two backends


def _api(mod: ModuleType) -> set[str]:
    """The names zkfast.codec re-exports from a backend: constants, encoders,
    decoders and the frame splitter (private ``_NAMES`` excluded)."""
    return {
        n for n in dir(mod)
        if not n.startswith("_") and (n.isupper() or n.startswith(("encode_", "decode_")))
    } | {"FrameReader"}


def _stub_names() -> set[str]:
    """Public names the .pyi stub declares: defs, classes, constants and explicit
    ``import X as X`` re-exports (type aliases, which exist only for typing, excluded)."""
    tree = ast.parse((PKG / "_codec.pyi").read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
        elif isinstance(node, ast.ImportFrom):
            names.update(a.asname for a in node.names if a.asname and a.asname == a.name)
    return {n for n in names if not n.startswith("_")}


def test_backends_expose_the_same_api() -> None:
    compiled = _compiled()
    if compiled is None:
        pytest.skip("the compiled codec is not built in this install")
    assert _api(compiled) == _api(_codec_py)
    mismatched = []
    for name in sorted(_api(_codec_py)):
        a, b = getattr(compiled, name), getattr(_codec_py, name)
        if inspect.isroutine(a) or inspect.isroutine(b):
            pa, pb = list(inspect.signature(a).parameters), list(inspect.signature(b).parameters)
            if pa != pb:
                mismatched.append(f"{name}: cython{pa} vs python{pb}")
        elif not inspect.isclass(a) and a != b:
            mismatched.append(f"{name}: cython {a!r} vs python {b!r}")
    assert not mismatched, "\n".join(mismatched)


def test_stub_declares_exactly_the_backend_api() -> None:
    declared = _stub_names()
    api = _api(_codec_py)
    assert not api - declared, f"in the backends but not in _codec.pyi: {sorted(api - declared)}"
    for mod in filter(None, [_codec_py, _compiled()]):
        missing = sorted(n for n in declared if not hasattr(mod, n))
        assert not missing, f"_codec.pyi declares names {mod.__name__} lacks: {missing}"


# --------------------------------------------------------------------------- typing files


def test_typing_files_are_in_the_package() -> None:
    assert (PKG / "py.typed").is_file()
    stub = PKG / "_codec.pyi"
    assert stub.is_file()
    ast.parse(stub.read_text(encoding="utf-8"))
    if ROOT not in PKG.parents:  # an installed wheel, not the source tree
        assert not list(PKG.glob("_codec*.c")), "generated C shipped in the installed package"


def _pyproject() -> dict:
    with open(ROOT / "pyproject.toml", "rb") as f:
        return tomllib.load(f)


@needs_source
def test_package_data_and_build_requirements() -> None:
    cfg = _pyproject()
    assert any(r.replace(" ", "").lower().startswith("cython") for r in cfg["build-system"]["requires"])
    setuptools_cfg = cfg["tool"]["setuptools"]
    data = setuptools_cfg["package-data"]["zkfast"]
    assert "py.typed" in data and "*.pyi" in data
    assert "*.c" in setuptools_cfg["exclude-package-data"]["zkfast"]


# --------------------------------------------------------------------------- sdist configuration


@needs_source
def test_sdist_ships_the_pyx_not_the_generated_c() -> None:
    manifest = [line.split() for line in (ROOT / "MANIFEST.in").read_text().splitlines()
                if line.strip() and not line.lstrip().startswith("#")]
    includes = {w for words in manifest if words[0] == "include" for w in words[1:]}
    excludes = {w for words in manifest if words[0] == "exclude" for w in words[1:]}
    assert {"src/zkfast/_codec.pyx", "src/zkfast/_codec.pxd"} <= includes
    # setuptools adds an extension's sources by default; after cythonize that is the .c.
    assert "src/zkfast/_codec.c" in excludes
    ignored = (ROOT / ".gitignore").read_text().split()
    assert "src/zkfast/_codec.c" in ignored or "*.c" in ignored


@needs_source
def test_generated_c_is_not_committed() -> None:
    git = shutil.which("git")
    if git is None or not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    out = subprocess.run([git, "ls-files", "--", "src/zkfast/_codec.c", "src/zkfast/*.so"],
                         cwd=str(ROOT), capture_output=True, text=True, timeout=30, check=False)
    if out.returncode != 0:  # e.g. a copy of the tree owned by another user ("dubious ownership")
        pytest.skip(f"git ls-files failed: {out.stderr.strip()}")
    assert out.stdout.strip() == "", f"generated files are committed: {out.stdout.split()}"


# --------------------------------------------------------------------------- release metadata
# What PyPI shows and what installers read (issue 13). The built distributions
# themselves (METADATA, the LICENSE inside them, `twine check`, valid trove
# classifiers, cibuildwheel's own list of wheels) are checked by scripts/check_wheels.sh.

WORKFLOW = ROOT / ".github" / "workflows" / "wheels.yml"
# CPython versions past end of life (3.9: October 2025, 3.10: October 2026).
END_OF_LIFE = {(3, 9), (3, 10)}
CURRENT = (3, 14)


def _minor(v: str) -> tuple[int, int]:
    major, minor = v.split(".")[:2]
    return int(major), int(minor)


def _classifier_versions(cfg: dict) -> list[tuple[int, int]]:
    prefix = "Programming Language :: Python :: "
    return sorted(_minor(c[len(prefix):]) for c in cfg["project"]["classifiers"]
                  if c.startswith(prefix) and re.fullmatch(r"\d+\.\d+", c[len(prefix):]))


def _wheel_versions(cfg: dict) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
    """CPython versions the cibuildwheel build selector names: (GIL, free-threaded)."""
    gil, ft = [], []
    for ident in cfg["tool"]["cibuildwheel"]["build"].split():
        m = re.fullmatch(r"cp3(\d+)(t?)-\*", ident)
        assert m, f"unexpected build selector {ident!r} (expected cp3XY-* or cp3XYt-*)"
        (ft if m.group(2) else gil).append((3, int(m.group(1))))
    return sorted(gil), sorted(ft)


def _workflow_test_pythons() -> list[str]:
    m = re.search(r"^ +python: \[([^\]]*)\]", WORKFLOW.read_text(encoding="utf-8"), re.MULTILINE)
    assert m, "no `python: [...]` matrix in wheels.yml"
    return re.findall(r'"([^"]+)"', m.group(1))


def _requirement_names(reqs: list[str]) -> set[str]:
    return {re.split(r"[\s<>=!~;\[]", r, maxsplit=1)[0].lower() for r in reqs}


@needs_source
def test_license_is_an_spdx_expression_with_its_file() -> None:
    project = _pyproject()["project"]
    # PEP 639: a plain SPDX string (the table form is deprecated and warns on every
    # build) and the file that holds the text, shipped in the sdist and the wheel.
    assert project["license"] == "Apache-2.0"
    assert project["license-files"] == ["LICENSE"]
    text = (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert "Apache License" in text and "Version 2.0, January 2004" in text
    assert "END OF TERMS AND CONDITIONS" in text
    # License classifiers are superseded by the expression; setuptools refuses both.
    assert not [c for c in project["classifiers"] if c.startswith("License ::")]


@needs_source
def test_classifiers_describe_the_release() -> None:
    classifiers = _pyproject()["project"]["classifiers"]
    for prefix in ("Development Status :: ", "Operating System :: ", "Framework :: AsyncIO",
                   "Programming Language :: Python :: 3 :: Only",
                   "Programming Language :: Python :: Implementation :: CPython", "Typing :: Typed"):
        assert any(c.startswith(prefix) for c in classifiers), f"no {prefix!r} classifier"
    assert len(classifiers) == len(set(classifiers))


@needs_source
def test_supported_python_versions_agree_everywhere() -> None:
    """requires-python, the version classifiers, the wheels cibuildwheel builds and the
    workflow's real-server test matrix all name the same CPython versions: the ones
    still supported, up to the current release."""
    cfg = _pyproject()
    m = re.fullmatch(r">=\s*(\d+\.\d+)", cfg["project"]["requires-python"])
    assert m, cfg["project"]["requires-python"]
    oldest = _minor(m.group(1))
    versions = _classifier_versions(cfg)
    assert versions, "no Python version classifiers"
    assert versions[0] == oldest, (versions, oldest)
    assert versions == [(3, n) for n in range(oldest[1], versions[-1][1] + 1)], "versions skipped"
    assert not END_OF_LIFE & set(versions), f"end-of-life versions {sorted(END_OF_LIFE & set(versions))}"
    assert CURRENT in versions
    gil, free_threaded = _wheel_versions(cfg)
    assert gil == versions, f"cibuildwheel builds {gil}, classifiers say {versions}"
    assert set(free_threaded) <= set(versions)
    tested = _workflow_test_pythons()
    assert sorted(_minor(v) for v in tested if not v.endswith("t")) == versions
    assert sorted(_minor(v[:-1]) for v in tested if v.endswith("t")) == free_threaded


@needs_source
def test_free_threaded_wheels_only_if_the_codec_declares_itself_safe() -> None:
    """A cp3XYt wheel whose codec does not declare ``freethreading_compatible``
    re-enables the GIL on import: build one only with the declaration, and the PyPI
    page says where free-threaded CPython stands either way."""
    _, free_threaded = _wheel_versions(_pyproject())
    header = (ROOT / "src" / "zkfast" / "_codec.pyx").read_text(encoding="utf-8").split('"""')[0]
    declared = re.search(r"^# cython:.*\bfreethreading_compatible\s*=\s*True", header, re.MULTILINE)
    assert bool(free_threaded) == bool(declared), (free_threaded, bool(declared))
    assert "free-threaded" in _pypi_description().lower()


@needs_source
def test_project_urls_match_the_publishing_workflow() -> None:
    urls = _pyproject()["project"]["urls"]
    for label in ("Homepage", "Documentation", "Issues", "Source"):
        assert urls.get(label, "").startswith("https://"), f"project.urls lacks {label}"
    m = re.fullmatch(r"https://github\.com/([\w.-]+/[\w.-]+)", urls["Source"])
    assert m, urls["Source"]
    slug = m.group(1)
    assert urls["Issues"] == f"https://github.com/{slug}/issues"
    assert urls["Documentation"].startswith(f"https://github.com/{slug}/")
    # The trusted publisher PyPI knows is that repository's wheels.yml: only it publishes.
    assert f"github.repository == '{slug}'" in WORKFLOW.read_text(encoding="utf-8")


def _pypi_description() -> str:
    readme = _pyproject()["project"]["readme"]
    return (ROOT / readme["file"]).read_text(encoding="utf-8")


# Markdown links and images `](url)`, reference definitions `[x]: url`, HTML href/src,
# autolinks `<scheme:...>`.
_LINK = re.compile(
    r"\]\(\s*<?([^)\s>]+)"
    r"|^\s*\[[^\]]+\]:\s*<?(\S+?)>?\s*$"
    r"|(?:href|src)=[\"']([^\"']+)"
    r"|<(\w+:[^>\s]+)>",
    re.MULTILINE,
)


@needs_source
def test_pypi_description_works_on_pypi() -> None:
    """PyPI shows the description on its own: it cannot follow links relative to the
    repository and the sdist/wheel do not carry the files the README points at."""
    readme = _pyproject()["project"]["readme"]
    assert isinstance(readme, dict) and readme.get("content-type") == "text/markdown", readme
    assert readme["file"] != "README.md"
    text = _pypi_description()
    links = [next(g for g in m.groups() if g) for m in _LINK.finditer(text)]
    assert len(links) >= 5, links
    relative = [u for u in links if not u.startswith(("https://", "mailto:"))]
    assert not relative, f"links PyPI cannot follow: {relative}"
    slug = _pyproject()["project"]["urls"]["Source"].removeprefix("https://github.com/")
    for url in links:
        m = re.match(rf"https://github\.com/{re.escape(slug)}/(?:blob|tree)/main/([^#?]+)", url)
        if m:
            assert (ROOT / m.group(1)).exists(), f"{url}: no {m.group(1)} in the repository"
    without_urls = re.sub(r"\w+://\S+", "", text)
    paths = re.findall(r"(?<![\w/.])(?:scripts|benchmarks|docs|tests|examples|src)/[\w./-]+", without_urls)
    assert not paths, f"repository paths a PyPI reader cannot open: {paths}"


@needs_source
def test_lint_tools_are_not_test_dependencies() -> None:
    """cibuildwheel installs the `test` extra for every wheel's tests: mypy and ruff
    live in a `lint` extra, which scripts/setup.sh (and so .ci/run) installs."""
    extras = _pyproject()["project"]["optional-dependencies"]
    assert not {"mypy", "ruff"} & _requirement_names(extras["test"])
    assert {"mypy", "ruff"} <= _requirement_names(extras["lint"])
    setup_sh = (ROOT / "scripts" / "setup.sh").read_text(encoding="utf-8")
    installed = re.findall(r'pip install [^\n]*-e "?\.\[([\w,-]+)\]', setup_sh)
    assert installed and all({"test", "lint"} <= set(e.split(",")) for e in installed), installed
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert ci.index("scripts/setup.sh") < ci.index("scripts/lint.sh")


# --------------------------------------------------------------------------- setup.py fall-back
# Each runs `setup.py build_ext` on a temp copy of setup.py and the codec sources with
# the interpreter running the tests (no pyproject.toml, so no project metadata is
# needed: this exercises setup.py's extension logic only). A second or so each.

_SETUPTOOLS = importlib.util.find_spec("setuptools") is not None
needs_setuptools = pytest.mark.skipif(not _SETUPTOOLS, reason="setuptools is not installed here")
needs_false = pytest.mark.skipif(sys.platform == "win32" or not os.access("/bin/false", os.X_OK),
                                 reason="needs a POSIX compiler driver to break (/bin/false)")


def _setup_py(
    tmp_path: Path, stub_cython: str | None = None, command: str = "build_ext",
    terminal: list[str] | None = None, **env: str
) -> tuple[subprocess.CompletedProcess[str], list[str]]:
    """Run ``setup.py <command>`` on a temp copy; returns the process and the
    extension binaries it left behind. With ``terminal`` (a list), the command also
    gets a pseudo-terminal as its controlling terminal, and what appears there is
    appended to the list."""
    work = tmp_path / "tree"
    (work / "src" / "zkfast").mkdir(parents=True, exist_ok=True)
    shutil.copy2(ROOT / "setup.py", work / "setup.py")
    (work / "src" / "zkfast" / "__init__.py").write_text("")  # Cython finds _codec.pxd by package
    for name in ("_codec.pyx", "_codec.pxd"):
        if (ROOT / "src" / "zkfast" / name).exists():
            shutil.copy2(ROOT / "src" / "zkfast" / name, work / "src" / "zkfast" / name)
    pythonpath = []
    if stub_cython is not None:
        stub = tmp_path / "stub"
        (stub / "Cython").mkdir(parents=True)
        (stub / "Cython" / "__init__.py").write_text(stub_cython)
        (stub / "Cython" / "Build.py").write_text(textwrap.dedent("""\
            import os
            def cythonize(exts, **kw):  # stands in for Cython: the compile is what fails
                with open(os.path.join("src", "zkfast", "_codec.c"), "w") as f:
                    f.write("int zkfast_stub;\\n")
                for e in exts:
                    e.sources = [os.path.join("src", "zkfast", "_codec.c")]
                return exts
            """))
        pythonpath.append(str(stub))
    full_env = {k: v for k, v in os.environ.items() if k not in _SCRUB and k != "PYTHONPATH"}
    if pythonpath:
        full_env["PYTHONPATH"] = os.pathsep.join(pythonpath)
    full_env.update(env)
    cmd = [sys.executable, "setup.py", command]
    if terminal is None:
        out = subprocess.run(cmd, cwd=str(work), env=full_env,
                             capture_output=True, text=True, timeout=120, check=False)
    else:
        out, seen = _run_on_a_terminal(cmd, work, full_env)
        terminal.append(seen)
    built = sorted(str(p.relative_to(work)) for p in work.rglob("_codec*") if p.suffix in (".so", ".pyd"))
    return out, built


def _run_on_a_terminal(cmd: list[str], cwd: Path, env: dict[str, str]
                       ) -> tuple[subprocess.CompletedProcess[str], str]:
    """Run ``cmd`` the way pip runs a build backend for a user at a terminal: stdout
    and stderr piped (pip captures them), the terminal still the controlling terminal
    of the process. Returns the process and what appeared on the terminal."""
    import fcntl
    import pty
    import select
    import termios

    master, slave = pty.openpty()

    def own_the_terminal() -> None:  # in the child, after setsid (start_new_session)
        fcntl.ioctl(slave, termios.TIOCSCTTY, 0)

    try:
        out = subprocess.run(cmd, cwd=str(cwd), env=env, stdin=subprocess.DEVNULL, capture_output=True,
                             text=True, timeout=120, check=False, start_new_session=True,
                             preexec_fn=own_the_terminal)
    finally:
        os.close(slave)
    seen = b""
    try:
        while select.select([master], [], [], 0.2)[0]:
            chunk = os.read(master, 65536)
            if not chunk:
                break
            seen += chunk
    except OSError:  # EIO: nothing holds the terminal open any more
        pass
    finally:
        os.close(master)
    return out, seen.decode("utf-8", "replace").replace("\r\n", "\n")


def _have_cython() -> bool:
    return importlib.util.find_spec("Cython") is not None


@needs_source
@needs_setuptools
def test_setup_py_no_extensions_env_builds_nothing_and_says_so(tmp_path: Path) -> None:
    out, built = _setup_py(tmp_path, ZKFAST_NO_EXTENSIONS="1")
    assert out.returncode == 0, out.stdout + out.stderr
    assert "zkfast: ZKFAST_NO_EXTENSIONS set, building the pure-Python codec only" in out.stderr
    assert built == []


@needs_source
@needs_setuptools
@needs_false
def test_setup_py_broken_compiler_falls_back_with_a_clear_message(tmp_path: Path) -> None:
    # The real Cython when this interpreter has it (cythonize runs, then gcc's
    # stand-in fails); else a stand-in for Cython, so the test never needs it.
    stub = None if _have_cython() else ""
    out, built = _setup_py(tmp_path, stub_cython=stub,
                           CC="/bin/false", CXX="/bin/false", LDSHARED="/bin/false")
    assert out.returncode == 0, out.stdout + out.stderr
    assert "/bin/false" in out.stdout + out.stderr, "the broken compiler was never run"
    assert "*** zkfast: could not compile the Cython codec" in out.stderr
    assert "*** Installing the pure-Python codec instead" in out.stderr
    assert built == []


@needs_source
@needs_setuptools
def test_setup_py_without_cython_builds_pure_and_says_so(tmp_path: Path) -> None:
    out, built = _setup_py(tmp_path, stub_cython="raise ImportError('no Cython here (test stand-in)')\n")
    assert out.returncode == 0, out.stdout + out.stderr
    assert "zkfast: Cython not available, building the pure-Python codec only" in out.stderr
    assert built == []


@needs_source
@needs_setuptools
@needs_false
def test_setup_py_fallback_warning_reaches_the_terminal(tmp_path: Path) -> None:
    """pip pipes a build backend's stdout and stderr into its log and shows them only
    with -v: the fallback notice must also reach the user's terminal directly."""
    stub = None if _have_cython() else ""
    terminal: list[str] = []
    out, built = _setup_py(tmp_path, stub_cython=stub, terminal=terminal,
                           CC="/bin/false", CXX="/bin/false", LDSHARED="/bin/false")
    assert out.returncode == 0, out.stdout + out.stderr
    assert built == []
    assert "*** zkfast: could not compile the Cython codec" in out.stderr  # logs and pip -v
    seen = terminal[0]
    assert "*** zkfast: could not compile the Cython codec" in seen, f"terminal showed: {seen!r}"
    assert "*** Installing the pure-Python codec instead" in seen
    assert seen.count("could not compile") == 1, seen


@needs_source
@needs_setuptools
def test_setup_py_build_starts_from_an_empty_build_lib(tmp_path: Path) -> None:
    """`pip install .` leaves build/ in the tree; whatever an earlier build put in
    build/lib* (a compiled codec, a module deleted since) must not reach the next wheel."""
    stale = [tmp_path / "tree" / "build" / "lib" / "zkfast" / name
             for name in ("_deleted_module.py", "_codec.cpython-311-x86_64-linux-gnu.so")]
    for f in stale:
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_text("stale")
    keep = tmp_path / "tree" / "build" / "other.txt"   # only build_lib is emptied
    keep.write_text("not ours to remove")
    out, _ = _setup_py(tmp_path, command="build", ZKFAST_NO_EXTENSIONS="1")
    assert out.returncode == 0, out.stdout + out.stderr
    assert not [f for f in stale if f.exists()], "stale files survived in build/lib"
    assert keep.exists()

