"""The docs tell the truth: every zkfast name they mention exists, every
``keyword=`` they show is a real parameter, go-mapping.md covers every exported
go-zookeeper name, and the README's and the guide's examples run against a real
server.
"""

from __future__ import annotations

import dataclasses
import enum
import importlib
import inspect
import logging
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import zkfast
from zkfast import Client
from zkfast.testing import ZooKeeperServer

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
README = ROOT / "README.md"
OWN_DOCS = ["go-mapping.md", "architecture.md", "guide.md", "migrating-from-kazoo.md", "cli.md",
            "pypi.md", "operating.md"]  # pypi.md: the package description PyPI shows
GO_REFERENCE_CANDIDATES = [
    ROOT.parent / "shared" / "reference" / "go-zookeeper-v1.0.0.txt",
    Path("/work/shared/reference/go-zookeeper-v1.0.0.txt"),
]

_CODE_SPAN = re.compile(r"(?<!`)`([^`\n]+)`(?!`)")
_DOTTED = re.compile(r"(?<![\w.])([A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*)")
_PY_BLOCK = re.compile(r"(<!--\s*(?P<mark>[\w-]+)\s*-->\s*\n)?```python\n(?P<code>.*?)```", re.DOTALL)


# ---------------------------------------------------------------- parsing


def _strip_fences(text: str) -> str:
    return re.sub(r"```.*?```", "", text, flags=re.DOTALL)


def _cells(line: str) -> list[str]:
    body = line.strip()[1:-1] if line.strip().endswith("|") else line.strip()[1:]
    # split on | not escaped as \|
    return [c.strip() for c in re.split(r"(?<!\\)\|", body)]


def doc_references(text: str) -> Iterator[tuple[str, str]]:
    """``(code span, where)`` for every zkfast reference worth checking.

    In tables, the second column is the zkfast column: every span there whose
    root is a zkfast name is checked. Everywhere else (notes, prose) only spans
    rooted at ``zkfast.``, ``Client.`` or ``AsyncClient.`` are (other columns
    hold go-zookeeper or kazoo names, which may collide with zkfast's).
    """
    for lineno, line in enumerate(_strip_fences(text).splitlines(), 1):
        where = f"line {lineno}"
        if line.lstrip().startswith("|") and not re.match(r"^\s*\|\s*-", line):
            cells = _cells(line)
            for i, cell in enumerate(cells):
                for span in _CODE_SPAN.findall(cell):
                    if _is_file(span):
                        continue
                    if i == 1:
                        yield span, where
                    elif i > 1:
                        yield from ((s, where) for s in [span] if _strict_root(s))
        else:
            for span in _CODE_SPAN.findall(line):
                if _strict_root(span):
                    yield span, where


_FILE_SPAN = re.compile(r"^[\w./-]+(\.(py|pyx|pyi|pxd|md|sh)|/)$")


def _is_file(span: str) -> bool:
    """A file or folder name (`client.py`, `recipe/`), not a Python name."""
    return bool(_FILE_SPAN.match(span.split(" ")[0]))


def _strict_root(span: str) -> bool:
    return any(re.search(rf"(?<![\w.]){root}\.", span) for root in ("zkfast", "Client", "AsyncClient"))


def _balanced(text: str, start: int) -> str:
    """The text inside the parenthesis opening at ``text[start]``."""
    depth = 0
    quote = ""
    for i in range(start, len(text)):
        ch = text[i]
        if quote:
            if ch == quote:
                quote = ""
            continue
        if ch in "\"'":
            quote = ch
        elif ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
            if depth == 0:
                return text[start + 1:i]
    return text[start + 1:]


def _top_level_keywords(args: str) -> list[str]:
    out, depth, quote, token = [], 0, "", ""
    for ch in args:
        if quote:
            if ch == quote:
                quote = ""
            continue
        if ch in "\"'":
            quote = ch
        elif ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        if depth == 0 and ch == "=" and re.fullmatch(r"\s*[a-z_]\w*\s*", token):
            out.append(token.strip())
        if ch == "," and depth == 0:
            token = ""
        elif depth == 0 and ch not in "=":
            token += ch
    return [k for k in out if k]


def names_in_span(span: str) -> Iterator[tuple[str, list[str]]]:
    """Dotted names in a code span, each with the keywords of its call (if called)."""
    for m in _DOTTED.finditer(span):
        name = m.group(1)
        rest = span[m.end():]
        kws: list[str] = []
        if rest.startswith("("):
            kws = _top_level_keywords(_balanced(span, m.end()))
        yield name, kws


# ---------------------------------------------------------------- resolving


def _instance(cls: type) -> Any:
    """An unstarted client: instance attributes (``server``, ``hosts``) live there."""
    if cls is Client:
        return Client("127.0.0.1:2181")
    if cls is zkfast.AsyncClient:
        return zkfast.AsyncClient("127.0.0.1:2181")
    return None


def _attr(obj: Any, name: str) -> Any:
    if hasattr(obj, name):
        return getattr(obj, name)
    if isinstance(obj, type):
        if issubclass(obj, enum.Enum) and name in ("name", "value"):
            return getattr(next(iter(obj)), name)
        if dataclasses.is_dataclass(obj) and name in {f.name for f in dataclasses.fields(obj)}:
            return next(f for f in dataclasses.fields(obj) if f.name == name)
        inst = _instance(obj)
        if inst is not None and hasattr(inst, name):
            return getattr(inst, name)
    raise AttributeError(name)


_MISSING_OK = object()
NOT_ZKFAST = object()


def resolve(name: str) -> Any:
    """The object a dotted zkfast name refers to; raises LookupError if it doesn't exist.
    Returns NOT_ZKFAST for names that are not zkfast's (``logging.getLogger``, ``zk``)."""
    parts = name.split(".")
    if parts[0] == "zkfast":
        obj: Any = zkfast
        parts = parts[1:]
    elif hasattr(zkfast, parts[0]) or parts[0] == "AsyncClient":
        obj = getattr(zkfast, parts[0])
        parts = parts[1:]
    else:
        return NOT_ZKFAST
    for i, part in enumerate(parts):
        try:
            obj = _attr(obj, part)
        except AttributeError:
            if inspect.ismodule(obj):
                modname = obj.__name__ + "." + part
                try:
                    obj = importlib.import_module(modname)
                    continue
                except ModuleNotFoundError as e:
                    if modname.startswith("zkfast.recipe") and e.name and e.name.startswith("zkfast.recipe"):
                        return _MISSING_OK  # recipes land separately; see test_recipe_names
                    raise LookupError(f"{name}: no module {modname}") from None
            raise LookupError(f"{name}: {'.'.join(parts[:i]) or 'zkfast'} has no {part!r}") from None
    return obj


def check_keywords(name: str, obj: Any, kws: list[str]) -> list[str]:
    if not kws or obj is NOT_ZKFAST or obj is _MISSING_OK:
        return []
    target = obj
    if dataclasses.is_dataclass(obj) and isinstance(obj, type):
        target = obj.__init__
    try:
        sig = inspect.signature(target)
    except (TypeError, ValueError):
        return []
    if any(p.kind is p.VAR_KEYWORD for p in sig.parameters.values()):
        if name.endswith("create_async"):
            sig = inspect.signature(Client.create)  # **kw are create()'s keywords
        else:
            return []
    return [f"{name}() has no parameter {kw!r}" for kw in kws if kw not in sig.parameters]


def check_doc(text: str) -> list[str]:
    problems = []
    for span, where in doc_references(text):
        for name, kws in names_in_span(span):
            try:
                obj = resolve(name)
            except LookupError as e:
                problems.append(f"{where}: `{span}`: {e}")
                continue
            problems += [f"{where}: `{span}`: {p}" for p in check_keywords(name, obj, kws)]
    return problems


# ---------------------------------------------------------------- tests: names


@pytest.mark.parametrize("doc", OWN_DOCS)
def test_every_documented_name_exists(doc: str) -> None:
    text = (DOCS / doc).read_text(encoding="utf-8")
    problems = check_doc(text)
    assert not problems, "\n".join(problems)


def test_the_checker_catches_mistakes() -> None:
    bad = ("| `X` | `Client.get_childs(path)` | |\n"
           "| `Y` | `Client.create(path, ephemral=True)` | |\n"
           "| `Z` | `zkfast.NoSuchError` | `zkfast.flw.nope` |\n"
           "see `Client.server` and `zkfast.State.value`; `AsyncClient.get_w`\n")
    problems = check_doc(bad)
    assert len(problems) == 4, problems
    assert "get_childs" in problems[0] and "ephemral" in problems[1]
    assert "NoSuchError" in problems[2] and "nope" in problems[3]


def test_recipe_names() -> None:
    """go-mapping.md names ``zkfast.recipe.Lock`` (acquire/release)."""
    try:
        recipe = importlib.import_module("zkfast.recipe")
    except ModuleNotFoundError:
        pytest.skip("zkfast.recipe is not in this tree yet")
    lock = recipe.Lock
    assert callable(lock.acquire) and callable(lock.release)


def _go_reference() -> Path:
    for p in GO_REFERENCE_CANDIDATES:
        if p.is_file():
            return p
    pytest.skip("shared/reference/go-zookeeper-v1.0.0.txt is not beside the repository")
    raise AssertionError  # unreachable


def go_exported_names(text: str) -> set[str]:
    """Exported names of the go-zookeeper godoc text: functions, types, methods
    (``T.M``), constants, variables, struct fields and interface methods (``T.F``)."""
    names: set[str] = set()
    block: tuple[str, str] | None = None  # (kind, type name)
    for line in text.splitlines():
        if not line.strip():
            continue  # blocks may have blank lines inside (State, EventType consts)
        if not line.startswith("\t"):
            block = None  # any unindented line ends a const/var/struct block
        m = re.match(r"^func \((?:\w+ )?\*?(\w+)\) ([A-Z]\w*)\(", line)
        if m:
            names.add(f"{m.group(1)}.{m.group(2)}")
            continue
        m = re.match(r"^func ([A-Z]\w*)\(", line)
        if m:
            names.add(m.group(1))
            continue
        m = re.match(r"^type ([A-Z]\w*) (struct|interface) \{", line)
        if m:
            names.add(m.group(1))
            block = (m.group(2), m.group(1))
            continue
        m = re.match(r"^type ([A-Z]\w*)\b", line)
        if m:
            names.add(m.group(1))
            continue
        m = re.match(r"^(const|var) \($", line)
        if m:
            block = ("values", "")
            continue
        m = re.match(r"^var ([A-Z]\w*)\b", line)
        if m:
            names.add(m.group(1))
            continue
        if block is not None and line.startswith("\t") and not line.strip().startswith("//"):
            m = re.match(r"^\t([A-Z]\w*)", line)
            if not m:
                continue
            kind, owner = block
            names.add(m.group(1) if kind == "values" else f"{owner}.{m.group(1)}")
    return names


def _go_column_cells(text: str) -> list[str]:
    cells = []
    for line in _strip_fences(text).splitlines():
        if line.lstrip().startswith("|") and not re.match(r"^\s*\|\s*-", line):
            cells.append(_cells(line)[0])
    return cells


def test_go_mapping_covers_every_exported_go_name() -> None:
    names = go_exported_names(_go_reference().read_text(encoding="utf-8"))
    # a sample of what the parser must find, so a parser bug cannot hide gaps
    for expected in ("Connect", "WithMaxConnBufferSize", "Conn.CreateProtectedEphemeralSequential",
                     "ErrNoServer", "StateHasSession", "EventNotWatching", "ModeStandalone",
                     "ServerClient.Lzxid", "HostProvider.Next", "Lock.Unlock", "Stat.Pzxid",
                     "Logger.Printf", "DefaultLogger", "FLWCons", "DefaultPort", "PermAll"):
        assert expected in names, expected
    assert len(names) > 180, len(names)
    cells = _go_column_cells((DOCS / "go-mapping.md").read_text(encoding="utf-8"))
    words = [set(re.findall(r"\w+", c)) for c in cells]
    missing = []
    for name in sorted(names):
        parts = name.split(".")
        if not any(all(p in w for p in parts) for w in words):
            missing.append(name)
    assert not missing, f"go-mapping.md lacks rows for: {missing}"


# ---------------------------------------------------------------- tests: examples


def python_blocks(text: str) -> list[tuple[str, str]]:
    """``(marker, code)`` of each ```python block; the marker is an HTML comment
    right before it (``<!-- no-run -->``), or ''."""
    return [(m.group("mark") or "", m.group("code")) for m in _PY_BLOCK.finditer(text)]


@pytest.mark.parametrize("doc", ["README.md", *OWN_DOCS])
def test_python_examples_compile(doc: str) -> None:
    path = README if doc == "README.md" else DOCS / doc
    blocks = python_blocks(path.read_text(encoding="utf-8"))
    if doc in ("README.md", "guide.md", "migrating-from-kazoo.md", "pypi.md"):
        assert blocks, f"{doc} has no python examples"
    for i, (_mark, code) in enumerate(blocks):
        compile(code, f"{doc} block {i}", "exec")


def _hosts_in(code: str, hosts: str) -> str:
    """Point an example's connect strings at the test server (keeping their chroots)."""
    return re.sub(r"127\.0\.0\.1:2181", hosts, code)


def _chroots(code: str) -> set[str]:
    return set(re.findall(r"127\.0\.0\.1:2181(/[\w/-]+)", code))


@pytest.mark.parametrize("doc", ["README.md", "pypi.md"])
def test_readme_examples_run(zk_server: ZooKeeperServer, zk_chroot: str,
                             capsys: pytest.CaptureFixture[str], doc: str) -> None:
    """The README's two examples run, and so do those of the PyPI description."""
    path = README if doc == "README.md" else DOCS / doc
    blocks = python_blocks(path.read_text(encoding="utf-8"))
    sync_code, async_code = blocks[0][1], blocks[1][1]
    hosts = zk_server.hosts + zk_chroot
    with Client(zk_server.hosts) as admin:
        for chroot in _chroots(sync_code) | _chroots(async_code) | {""}:
            admin.ensure_path(zk_chroot + chroot)
        try:
            ns: dict[str, Any] = {"__name__": "readme"}
            exec(compile(_hosts_in(sync_code, hosts), "README sync example", "exec"), ns)  # noqa: S102
            assert len(ns["values"]) == 10_000
            assert all(v[0] == b"v1" for v in ns["values"])
            ns = {"__name__": "readme_async"}
            exec(compile(_hosts_in(async_code, hosts), "README async example", "exec"), ns)  # noqa: S102
            assert admin.count_children(zk_chroot) >= 1000
        finally:
            admin.delete(zk_chroot, recursive=True)


def test_guide_examples_run(zk_server: ZooKeeperServer, zk_chroot: str,
                            capsys: pytest.CaptureFixture[str]) -> None:
    """The guide's examples run top to bottom in one namespace, as a reader would
    paste them (blocks marked ``<!-- no-run -->`` need TLS files, SASL users or an
    ensemble, and are only compiled)."""
    text = (DOCS / "guide.md").read_text(encoding="utf-8")
    blocks = [code for mark, code in python_blocks(text) if mark != "no-run"]
    assert len(blocks) >= 8
    hosts = zk_server.hosts + zk_chroot
    zk_logger = logging.getLogger("zkfast")
    level = zk_logger.level  # the logging example changes it
    with Client(zk_server.hosts) as admin:
        for chroot in set().union(*(_chroots(b) for b in blocks)) | {""}:
            admin.ensure_path(zk_chroot + chroot)
        ns: dict[str, Any] = {"__name__": "guide"}
        try:
            for i, code in enumerate(blocks):
                exec(compile(_hosts_in(code, hosts), f"guide.md block {i}", "exec"), ns)  # noqa: S102
        finally:
            zk_logger.setLevel(level)
            zk = ns.get("zk")
            if isinstance(zk, Client):
                zk.close()
            admin.delete(zk_chroot, recursive=True)
    out = capsys.readouterr().out
    assert "NODE_DATA_CHANGED /config" in out and "10088 4096" in out
    # The sequential node names the comments show (`print(x)  # /workers/w-0000000000`)
    # are what a reader gets: their counters depend on every example before them.
    shown = _commented_sequential_names(blocks)
    assert len(shown) >= 2, shown
    wrong = [name for name in shown if name not in out]
    assert not wrong, f"guide.md's comments show {wrong}, but its examples printed:\n{out}"


def _commented_sequential_names(blocks: list[str]) -> list[str]:
    """Sequential znode names (``-`` and ten digits) in the comments of ``print`` lines."""
    names = []
    for code in blocks:
        for m in re.finditer(r"^\s*print\(.*\)\s*#(?P<comment>.*)$", code, re.MULTILINE):
            names += re.findall(r"/[\w/.-]*-\d{10}\b", m.group("comment"))
    return names


def test_reliability_remove_watches_limit(zk_server: ZooKeeperServer, zk_chroot: str) -> None:
    """reliability.md, "Known limits": removing a persistent watch works (the server
    refuses the persistent watcher types; see test_codec_wire), and while one-shot
    watches remain on the path they still fire, the persistent watcher no longer does."""
    from zkfast import EventType, WatcherType

    with Client(zk_server.hosts) as admin:
        admin.ensure_path(zk_chroot + "/limit")
        try:
            with Client(zk_server.hosts + zk_chroot) as zk:
                persistent: list[Any] = []
                one_shot: list[Any] = []
                zk.add_watch("/limit", persistent.append)
                zk.get("/limit", watch=one_shot.append)
                assert zk.remove_watches("/limit", WatcherType.PERSISTENT) is True
                zk.set("/limit", b"x")
                deadline = time.monotonic() + 5
                while not one_shot and time.monotonic() < deadline:
                    time.sleep(0.02)
                time.sleep(0.2)
                assert [e.type for e in one_shot] == [EventType.NODE_DATA_CHANGED]
                assert [e.type for e in persistent] == [EventType.PERSISTENT_WATCH_REMOVED]
        finally:
            admin.delete(zk_chroot, recursive=True)
