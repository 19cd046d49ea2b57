"""pytest plugin that runs kazoo's own test files against a chosen ``kazoo``.

``KAZOO_SUITE_TARGET=zkfast`` resolves every ``kazoo`` / ``kazoo.X`` import to
``zkfast.kazoo`` / ``zkfast.kazoo.X`` (the same module objects), except
``kazoo.tests*``, which stays kazoo's test package from the unpacked sdist
(``KAZOO_SUITE_SDIST``). ``KAZOO_SUITE_TARGET=kazoo`` leaves ``kazoo`` alone:
the real kazoo from the sdist runs the same files, for the baseline.

The test files are never edited. Files and tests listed in ``excluded.txt``
(next to this file, each with its reason) are not collected / deselected, not
skipped, so they count neither as passed nor as skipped; the list is the
selection both targets run.
"""

from __future__ import annotations

import functools
import importlib
import importlib.abc
import importlib.util
import os
import sys
from pathlib import Path
from typing import Any, List, Optional, Sequence

import pytest

HERE = Path(__file__).resolve().parent
TARGET = os.environ.get("KAZOO_SUITE_TARGET", "zkfast")
if TARGET not in ("zkfast", "kazoo"):
    raise SystemExit(f"KAZOO_SUITE_TARGET must be 'zkfast' or 'kazoo', not {TARGET!r}")


class _AliasLoader(importlib.abc.Loader):
    """Hands out an already imported module under a second name."""

    def __init__(self, module: Any) -> None:
        self.module = module
        self.spec = module.__spec__

    def create_module(self, spec: Any) -> Any:
        return self.module

    def exec_module(self, module: Any) -> None:
        module.__spec__ = self.spec  # the import system set the alias's spec; keep the real one


class KazooAlias(importlib.abc.MetaPathFinder):
    """``kazoo.X`` -> ``zkfast.kazoo.X``; ``kazoo.tests.X`` -> the sdist's file."""

    def __init__(self, tests_dir: Path) -> None:
        self.tests_dir = tests_dir

    def find_spec(self, fullname: str, path: Optional[Sequence[str]], target: Any = None) -> Any:
        if fullname != "kazoo" and not fullname.startswith("kazoo."):
            return None
        parts = fullname.split(".")
        if parts[1:2] == ["tests"]:
            return self._test_spec(fullname, parts[2:])
        if TARGET == "kazoo":
            return None
        real = "zkfast." + fullname
        try:
            module = importlib.import_module(real)
        except ModuleNotFoundError as e:
            if e.name == real:
                return None  # no such module: the import fails as it would
            raise
        return importlib.util.spec_from_loader(fullname, _AliasLoader(module),
                                               is_package=hasattr(module, "__path__"))

    def _test_spec(self, fullname: str, rest: List[str]) -> Any:
        if not rest:
            return importlib.util.spec_from_file_location(
                fullname, self.tests_dir / "__init__.py",
                submodule_search_locations=[str(self.tests_dir)])
        file = self.tests_dir.joinpath(*rest[:-1], rest[-1] + ".py")
        if not file.exists():
            return None
        return importlib.util.spec_from_file_location(fullname, file)


def _install() -> None:
    sdist = os.environ.get("KAZOO_SUITE_SDIST")
    if not sdist:
        raise SystemExit("KAZOO_SUITE_SDIST must name the unpacked kazoo sdist")
    tests_dir = Path(sdist, "kazoo", "tests")
    if not tests_dir.is_dir():
        raise SystemExit(f"no kazoo/tests in {sdist}")
    if TARGET == "zkfast":
        # Nothing may have imported the real kazoo before us.
        for name in list(sys.modules):
            if name == "kazoo" or name.startswith("kazoo."):
                raise SystemExit(f"{name} was imported before the alias was installed")
    sys.meta_path.insert(0, KazooAlias(tests_dir))


_install()


@functools.cache
def _excluded() -> dict:
    out = {}
    for line in (HERE / "excluded.txt").read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        nodeid, _, reason = line.partition(" ")
        out[nodeid] = reason.strip()
    return out


def pytest_report_header(config: pytest.Config) -> List[str]:
    import kazoo

    where = getattr(kazoo, "__file__", "?")
    lines = [f"kazoo suite target: {TARGET} (import kazoo -> {where})"]
    if TARGET == "zkfast":
        import zkfast
        lines.append(f"zkfast codec backend: {zkfast.codec_backend}")
    return lines


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> Optional[bool]:
    """Excluded files are not even imported (some import modules zkfast.kazoo has not:
    the gevent and eventlet handlers, the selector helpers)."""
    if collection_path.suffix == ".py" and collection_path.name in _excluded():
        return True
    return None


def pytest_collection_modifyitems(config: pytest.Config, items: List[pytest.Item]) -> None:
    excluded = _excluded()
    keep, drop = [], []
    for item in items:
        # node ids relative to kazoo/tests, e.g. test_client.py::TestClient::test_create
        rel = item.nodeid.split("kazoo/tests/", 1)[-1]
        file = rel.split("::", 1)[0]
        if rel in excluded or file in excluded or any(
                rel.startswith(k + "::") for k in excluded if "::" in k):
            drop.append(item)
        else:
            keep.append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep
