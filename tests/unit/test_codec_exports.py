"""zkfast.codec exports one explicit list of names, and that list is exactly
what both backends provide (constants, encoders, decoders, FrameReader)."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path
from types import ModuleType
from typing import Optional

import pytest

import zkfast
from zkfast import _codec_py, codec

PKG = Path(zkfast.__file__).resolve().parent


def _backend_api(mod: ModuleType) -> set[str]:
    return {n for n in dir(mod)
            if not n.startswith("_") and (n.isupper() or n.startswith(("encode_", "decode_")))
            and n not in ("ACL", "CODE_RESPONSE_TOO_LARGE")} | {"FrameReader"}


def _compiled() -> Optional[ModuleType]:
    try:
        return importlib.import_module("zkfast._codec")
    except ImportError:
        return None


def test_the_export_list_is_the_backend_api() -> None:
    exported = set(codec.__all__) - {"backend"}
    assert exported == _backend_api(_codec_py)
    compiled = _compiled()
    if compiled is not None:
        assert exported == _backend_api(compiled)


def test_every_exported_name_comes_from_the_chosen_backend() -> None:
    chosen = importlib.import_module("zkfast._codec" if codec.backend == "cython" else "zkfast._codec_py")
    for name in set(codec.__all__) - {"backend"}:
        assert getattr(codec, name) is getattr(chosen, name), name


def test_both_import_lists_in_codec_py_are_the_same() -> None:
    """codec.py imports the list twice (compiled, then pure): they must agree."""
    tree = ast.parse((PKG / "codec.py").read_text(encoding="utf-8"))
    lists = [sorted(a.name for a in node.names) for node in ast.walk(tree)
             if isinstance(node, ast.ImportFrom) and node.module in ("_codec", "_codec_py")]
    assert len(lists) == 2 and lists[0] == lists[1] == sorted(set(codec.__all__) - {"backend"})


@pytest.mark.parametrize("name", ["encode_get_data", "FrameReader", "OP_GET_DATA"])
def test_static_readers_see_the_names(name: str) -> None:
    """No dir()/globals() tricks: a name is visible in codec.py's source."""
    assert name in (PKG / "codec.py").read_text(encoding="utf-8")
