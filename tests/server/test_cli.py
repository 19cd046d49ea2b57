"""The ``zkfast`` command line, end to end against a real server.

Most tests call :func:`zkfast.cli.main` in-process with captured streams; a
few run ``python -m zkfast`` in a subprocess (watch, lock, Ctrl-C, the
console contract of one-line errors).
"""

from __future__ import annotations

import io
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Callable, NamedTuple

import pytest
from helpers import wait_until

import zkfast
from zkfast import Client, Id, Perm, digest_acl
from zkfast.cli import (
    EXIT_CODES,
    CLIError,
    Progress,
    format_acl,
    main,
    parse_acl_spec,
)
from zkfast.testing import ZooKeeperServer
from zkfast.testing.pytest_plugin import SASL_USERS

SRC = str(Path(zkfast.__file__).resolve().parent.parent)


class Result(NamedTuple):
    code: int
    out: str
    raw: bytes
    err: str

    def json(self) -> Any:
        return json.loads(self.out)


class SignalingStream(io.StringIO):
    """A stderr that lets a test wait for a line to appear."""

    def __init__(self) -> None:
        super().__init__()
        self.changed = threading.Condition()

    def write(self, s: str) -> int:
        with self.changed:
            n = super().write(s)
            self.changed.notify_all()
        return n

    def wait_for(self, text: str, timeout: float = 10.0) -> None:
        with self.changed:
            assert self.changed.wait_for(lambda: text in self.getvalue(), timeout), self.getvalue()


def run_cli(argv: list[str], stdin: bytes = b"", stderr: io.StringIO | None = None) -> Result:
    raw = io.BytesIO()
    out = io.TextIOWrapper(raw, encoding="utf-8", newline="\n", write_through=True)
    err = stderr if stderr is not None else io.StringIO()
    inp = io.TextIOWrapper(io.BytesIO(stdin), encoding="utf-8")
    code = main(argv, stdout=out, stderr=err, stdin=inp)
    out.flush()
    data = raw.getvalue()
    out.detach()
    return Result(code, data.decode("utf-8", errors="replace"), data, err.getvalue())


@pytest.fixture
def zk(make_client: Callable[..., Client]) -> Client:
    return make_client()


@pytest.fixture
def hosts(zk: Client, zk_server: ZooKeeperServer, zk_chroot: str) -> str:
    return zk_server.hosts + zk_chroot


@pytest.fixture
def cli(hosts: str) -> Callable[..., Result]:
    """``cli("ls", "/")`` runs the command line against this test's chroot."""
    def run(*argv: str, stdin: bytes = b"", stderr: io.StringIO | None = None) -> Result:
        return run_cli(["--hosts", hosts, *argv], stdin=stdin, stderr=stderr)
    return run


def subprocess_env(**extra: str) -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = SRC + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env.update(extra)
    return env


def zkfast_cmd(*argv: str) -> list[str]:
    return [sys.executable, "-m", "zkfast", *argv]


def one_error_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err
    assert lines[0].startswith("zkfast: error: ")
    return lines[0]


# ---------------------------------------------------------------- basic commands


def test_crud_and_exit_codes(cli: Callable[..., Result], zk: Client) -> None:
    r = cli("create", "/a", "hello")
    assert (r.code, r.out) == (0, "/a\n")
    assert zk.get("/a")[0] == b"hello"
    r = cli("get", "/a")
    assert (r.code, r.raw) == (0, b"hello")  # raw bytes, nothing added when piped

    r = cli("create", "/a")
    assert r.code == 4 and one_error_line(r.err) == "zkfast: error: node already exists: /a"
    r = cli("get", "/missing")
    assert r.code == 3 and "node does not exist: /missing" in one_error_line(r.err)
    assert cli("stat", "/missing").code == 3

    assert cli("set", "/a", "v2").code == 0
    assert zk.get("/a")[0] == b"v2"
    r = cli("set", "/a", "v3", "--version", "0")
    assert r.code == 5 and "version conflict" in one_error_line(r.err)
    assert cli("set", "/a", "v3", "--version", "1").code == 0

    binary = b"\xff\x00\x01binary"
    assert cli("set", "/a", "-", stdin=binary).code == 0
    assert cli("get", "/a").raw == binary
    doc = cli("get", "/a", "--json").json()
    assert doc["encoding"] == "base64" and doc["stat"]["version"] == 3
    import base64
    assert base64.b64decode(doc["value"]) == binary
    assert cli("set", "/a", "texté").code == 0
    doc = cli("--json", "get", "/a").json()
    assert doc["value"] == "texté" and "encoding" not in doc

    cli("create", "/a/child")
    r = cli("rm", "/a")
    assert r.code == 8 and "node has children" in r.err
    r = cli("rm", "/a/child", "--version", "4")
    assert r.code == 5
    assert cli("rm", "/a/child").code == 0
    assert cli("rm", "/a").code == 0
    assert zk.exists("/a") is None
    assert cli("rm", "/a").code == 3


def test_max_buffer_size(cli: Callable[..., Result], zk: Client) -> None:
    value = b"x" * 600_000
    zk.create("/large", value)
    r = cli("--max-buffer-size", "100k", "get", "/large")
    assert r.code == 1
    line = one_error_line(r.err)
    assert "--max-buffer-size" in line and "/large" in line, line
    assert cli("get", "/large", "--max-buffer-size", "1M").raw == value
    assert cli("get", "/large").raw == value  # the default (64 MiB) takes it


def test_stat_plain_and_json(cli: Callable[..., Result], zk: Client) -> None:
    zk.create("/s", b"12345")
    zk.create("/s/c")
    st = zk.exists("/s")
    r = cli("stat", "/s")
    assert r.code == 0
    lines = dict(line.split(" = ", 1) for line in r.out.splitlines())
    assert list(lines) == ["cZxid", "ctime", "mZxid", "mtime", "pZxid", "cversion",
                           "dataVersion", "aclVersion", "ephemeralOwner", "dataLength",
                           "numChildren"]
    assert lines["cZxid"] == hex(st.czxid) and lines["dataLength"] == "5"
    assert lines["numChildren"] == "1" and lines["ctime"].endswith("Z")
    doc = cli("stat", "/s", "--json").json()
    assert doc == {"path": "/s", **st._asdict()}


def test_create_modes(cli: Callable[..., Result], zk: Client) -> None:
    r = cli("create", "-s", "/job-", "x")
    assert r.code == 0 and r.out.strip().startswith("/job-") and len(r.out.strip()) == 15
    r = cli("create", "-p", "/deep/er/node", "v")
    assert r.code == 0 and zk.get("/deep/er/node")[0] == b"v"
    assert cli("create", "/no/parent").code == 3

    # the session ends with the command: so does the node
    r = cli("--session-timeout", "4", "create", "-e", "/eph")
    assert r.code == 0 and "ephemeral" in r.err
    # Client.close() does not wait for the closeSession reply and, when its I/O
    # thread drops the socket first, does not send closeSession at all: then the
    # node lives until the session times out (4 s here). Reported to the client.
    wait_until(lambda: zk.exists("/eph") is None, timeout=10)

    assert cli("create", "--ttl", "60", "/ttl", "t").code == 0
    assert zk.get("/ttl")[0] == b"t"
    assert cli("create", "--container", "/box").code == 0
    assert zk.exists("/box") is not None
    assert cli("create", "--container", "-s", "/bad").code == 2
    assert cli("create", "--ttl", "5", "-e", "/bad").code == 2
    assert cli("create", "--ttl", "-1", "/bad").code == 2

    r = cli("create", "/ro", "--acl", "world:anyone:r")
    assert r.code == 0
    acls, _ = zk.get_acls("/ro")
    assert acls == [zkfast.ACL(int(Perm.READ), Id("world", "anyone"))]
    r = cli("set", "/ro", "x")
    assert r.code == 7 and "not authenticated" in one_error_line(r.err)


def test_ls_and_tree(cli: Callable[..., Result], zk: Client) -> None:
    for p in ("/app/b", "/app/a/x", "/app/a/y", "/app/c", "/other"):
        zk.ensure_path(p)
    assert cli("ls", "/app").out == "a\nb\nc\n"
    assert cli("ls", "/app", "--json").json() == ["a", "b", "c"]
    assert cli("ls", "-R", "/app").out.split() == ["/app/a", "/app/a/x", "/app/a/y",
                                                   "/app/b", "/app/c"]
    assert cli("ls", "-R", "/", "--json").json()[:2] == ["/app", "/app/a"]
    assert cli("ls", "/nope").code == 3

    r = cli("tree", "/app")
    assert r.code == 0
    assert r.out == ("/app\n"
                     "├── a\n"
                     "│   ├── x\n"
                     "│   └── y\n"
                     "├── b\n"
                     "└── c\n"
                     "\n"
                     "5 nodes\n")
    assert cli("tree", "-L", "1", "/app").out.splitlines()[1:4] == ["├── a", "├── b", "└── c"]
    # the root of the tree (here a chroot's root) counts as depth 0, like any other PATH
    assert cli("tree", "-L", "1", "/").out == "/\n├── app\n└── other\n\n2 nodes\n"
    assert cli("tree", "-L", "2", "/").out.splitlines()[-1] == "5 nodes"
    assert cli("tree", "-L", "0", "/").out == "/\n\n0 nodes\n"
    assert cli("tree", "-L", "1", "/", "--json").json()["children"][0]["name"] == "app"
    doc = cli("tree", "/app", "--json").json()
    assert [c["name"] for c in doc["children"]] == ["a", "b", "c"]
    assert [c["path"] for c in doc["children"][0]["children"]] == ["/app/a/x", "/app/a/y"]


def test_global_options_anywhere_and_env(hosts: str, zk: Client, monkeypatch: pytest.MonkeyPatch) -> None:
    zk.create("/g", b"1")
    assert run_cli(["ls", "/", "--hosts", hosts, "--json"]).json() == ["g"]
    assert run_cli(["--json", "--hosts", hosts, "ls", "/"]).json() == ["g"]
    monkeypatch.setenv("ZKFAST_HOSTS", hosts)
    assert run_cli(["get", "/g"]).raw == b"1"


def test_usage_errors(cli: Callable[..., Result]) -> None:
    for argv in (["bogus"], ["ls"], ["set", "/x"], ["create", "--ttl", "abc", "/x"]):
        r = cli(*argv)
        assert r.code == 2, argv
        assert "Traceback" not in r.err
    assert cli("get", "relative").code == 2
    assert cli("acl", "set", "/x", "world:anyone").code == 2
    assert cli("acl", "set", "/x", "world:anyone:rz").code == 2
    r = run_cli(["--hosts", "bad host!", "ls", "/"])
    assert r.code == 2 and "invalid --hosts" in one_error_line(r.err)
    r = cli("--auth", "nocolon", "ls", "/")
    assert r.code == 2 and "--auth" in r.err
    r = run_cli(["--help"])
    assert r.code == 0 and "exit codes:" in r.out and "lock" in r.out
    r = run_cli(["--version"])
    assert r.code == 0 and zkfast.__version__ in r.out


@pytest.mark.parametrize("argv, option", [
    (["--timeout", "-1", "ls", "/"], "--timeout"),
    (["--timeout", "0", "ls", "/"], "--timeout"),
    (["ls", "/", "--timeout", "nan"], "--timeout"),
    (["--session-timeout", "0", "ls", "/"], "--session-timeout"),
    (["--session-timeout", "-3", "ls", "/"], "--session-timeout"),
    (["--window", "0", "ls", "/"], "--window"),
    (["--max-buffer-size", "0", "ls", "/"], "--max-buffer-size"),
    (["watch", "/x", "--timeout", "-1"], "--timeout"),
    (["watch", "/x", "--count", "0"], "--count"),
    (["lock", "/x", "--timeout", "-2", "--", "true"], "--timeout"),
    (["tree", "-L", "-1", "/"], "--level"),
    (["du", "-d", "-1", "/"], "--depth"),
])
def test_bad_numbers_are_usage_errors_naming_the_option(argv: list[str], option: str) -> None:
    r = run_cli(["--hosts", "127.0.0.1:1", *argv])  # nothing listens: must fail before connecting
    assert r.code == 2, r.err
    assert option in r.err.strip().splitlines()[-1], r.err
    assert "Traceback" not in r.err


def test_sasl_without_pure_sasl_fails_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "puresasl", None)  # as if not installed
    monkeypatch.setitem(sys.modules, "puresasl.client", None)
    r = run_cli(["--hosts", "127.0.0.1:1", "--timeout", "30", "--sasl", "bob:pw", "ls", "/"])
    assert r.code == 2
    assert "pure-sasl" in one_error_line(r.err) and "zkfast[sasl]" in r.err


def test_tls_files_that_cannot_be_read_are_named(tmp_path: Path) -> None:
    for flag in ("--cafile", "--certfile"):
        r = run_cli(["--hosts", "127.0.0.1:1", flag, "/no/such/file.pem", "ls", "/"])
        assert r.code == 2
        line = one_error_line(r.err)
        assert flag in line and "/no/such/file.pem" in line, line
    bad = tmp_path / "bad.pem"
    bad.write_text("not a certificate")
    r = run_cli(["--hosts", "127.0.0.1:1", "--cafile", str(bad), "ls", "/"])
    assert r.code == 2 and str(bad) in one_error_line(r.err)


def test_command_options_do_not_clobber_global_ones() -> None:
    from zkfast.cli import _parse
    a = _parse(["lock", "/x", "--timeout", "3", "--", "sh", "-c", "exit 2"])
    assert (a.timeout, a.lock_timeout, a.command_argv) == (10.0, 3.0, ["sh", "-c", "exit 2"])
    a = _parse(["--timeout", "4", "watch", "/x", "--timeout", "2", "--json"])
    assert (a.timeout, a.watch_timeout, a.json) == (4.0, 2.0, True)
    a = _parse(["--auth", "digest:a:b", "ls", "/", "--auth", "digest:c:d", "-v", "-v"])
    assert (a.auth, a.verbose) == (["digest:a:b", "digest:c:d"], 2)
    a = _parse(["set", "/x", "--", "-v"])  # a value that looks like an option
    assert (a.value, a.verbose) == ("-v", 0)


def test_connection_failure_is_one_line_or_a_traceback_with_v() -> None:
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again below: nothing listens there
    r = run_cli(["--hosts", f"127.0.0.1:{port}", "--timeout", "0.5", "ls", "/"])
    assert r.code == 6
    assert "could not connect" in one_error_line(r.err)
    r = run_cli(["-v", "--hosts", f"127.0.0.1:{port}", "--timeout", "0.5", "ls", "/"])
    assert r.code == 6 and "Traceback" in r.err


# ---------------------------------------------------------------- ACLs and auth


def test_acl_get_set_and_auth(cli: Callable[..., Result], zk: Client) -> None:
    zk.create("/secure", b"s")
    assert cli("acl", "get", "/secure").out == "world:anyone:cdrwa\n"
    assert cli("acl", "get", "/secure", "--json").json() == [
        {"scheme": "world", "id": "anyone", "perms": "cdrwa"}]

    ident = cli("digest", "bob:secret").out.strip()
    assert ident == digest_acl(Perm.ALL, "bob", "secret").id.id
    r = cli("acl", "set", "/secure", f"digest:{ident}:cdrwa,world:anyone:r")
    assert r.code == 0
    # the server shows digest hashes only to a session with ADMIN on the node
    assert set(cli("acl", "get", "/secure").out.split()) == {"digest:bob:x:cdrwa",
                                                             "world:anyone:r"}
    r = cli("--auth", "digest:bob:secret", "acl", "get", "/secure")
    assert set(r.out.split()) == {f"digest:{ident}:cdrwa", "world:anyone:r"}

    assert cli("get", "/secure").raw == b"s"  # world may read
    r = cli("set", "/secure", "x")
    assert r.code == 7 and "not authenticated: /secure" in one_error_line(r.err)
    assert cli("--auth", "digest:bob:secret", "set", "/secure", "x").code == 0
    assert cli("set", "/secure", "y", "--auth", "digest:bob:wrong").code == 7
    r = cli("--auth", "digest:bob:secret", "acl", "set", "/secure", "auth::cdrwa",
            "--version", "0")
    assert r.code == 5  # the ACL version is 1 now
    assert cli("--auth", "digest:bob:secret", "acl", "set", "/secure", "auth::cdrwa").code == 0
    assert cli("get", "/secure").code == 7


def test_a_rejected_identity_exits_with_the_auth_code(cli: Callable[..., Result]) -> None:
    """The server closes the connection after refusing an --auth identity (an unknown
    scheme here); that is an authentication failure (7), not a connection problem (6),
    whichever way the client reports it, -v or not."""
    for argv in (["ls", "/"], ["-v", "get", "/"], ["--json", "ls", "-R", "/"]):
        for _ in range(3):
            r = cli("--auth", "nosuch:credential", *argv)
            assert r.code == 7, (argv, r.err)
            assert "authentication failed" in r.err.strip().splitlines()[-1]
            assert "credential" not in r.err  # never echo a secret


def test_parse_acl_spec() -> None:
    acls = parse_acl_spec("world:anyone:cdrwa, digest:bob:abc=:rw,ip:10.0.0.0/8:r,auth::a")
    assert acls[0] == zkfast.ACL(int(Perm.ALL), Id("world", "anyone"))
    assert acls[1] == zkfast.ACL(int(Perm.READ | Perm.WRITE), Id("digest", "bob:abc="))
    assert acls[2].id == Id("ip", "10.0.0.0/8") and acls[3].id == Id("auth", "")
    assert [format_acl(a) for a in acls] == ["world:anyone:cdrwa", "digest:bob:abc=:rw",
                                            "ip:10.0.0.0/8:r", "auth::a"]
    assert parse_acl_spec("world:anyone:all")[0].perms == Perm.ALL
    for bad in ("world:anyone", "", "world:anyone:", "world:anyone:x", ":x:r"):
        with pytest.raises(CLIError) as ei:
            parse_acl_spec(bad)
        assert ei.value.code == 2


# ---------------------------------------------------------------- bulk: dump, load, du, rm -r


def _tree(zk: Client, root: str) -> dict:
    """{relative path: value} of a subtree."""
    out = {}
    todo = [root]
    while todo:
        p = todo.pop()
        value, _ = zk.get(p)
        out[p[len(root):] or "/"] = value
        todo.extend(f"{p}/{c}" if p != "/" else f"/{c}" for c in zk.get_children(p))
    return out


def _build_sample(zk: Client) -> None:
    zk.create("/src", b"root value")
    zk.create("/src/text", "héllo".encode())
    zk.create("/src/bin", b"\x00\xff\xfe")
    zk.create("/src/empty")
    zk.create("/src/dir", b"dir value")
    zk.create("/src/dir/leaf", b"leaf")
    zk.create("/src/dir/sub")
    zk.create("/src/dir/sub/x", b"x" * 1000)


def test_dump_and_load_json(cli: Callable[..., Result], zk: Client, tmp_path: Path) -> None:
    _build_sample(zk)
    zk.create("/src/eph", b"session-bound", ephemeral=True)
    r = cli("dump", "/src")
    assert r.code == 0
    doc = r.json()
    assert doc["zkfast_dump"] == 1 and doc["root"] == "/src"
    assert "/eph" not in doc["nodes"]  # ephemerals belong to a session
    assert doc["nodes"]["/text"] == {"value": "héllo"}
    assert doc["nodes"]["/bin"]["encoding"] == "base64"
    assert list(doc["nodes"])[:3] == ["/", "/bin", "/dir"]
    assert "skipped 1 ephemeral node" in r.err

    out = tmp_path / "backup.json"
    r = cli("dump", "/src", "--out", str(out))
    assert r.code == 0 and "dumped 8 nodes" in r.out
    assert json.loads(out.read_text())["nodes"] == doc["nodes"]

    r = cli("load", str(out), "/copy/of/src")
    assert r.code == 0 and "8 created, 0 updated" in r.out
    expected = _tree(zk, "/src")
    del expected["/eph"]
    assert _tree(zk, "/copy/of/src") == expected

    # loading again overwrites values; --no-overwrite leaves them
    zk.set("/copy/of/src/text", b"changed")
    r = cli("load", str(out), "/copy/of/src", "--json")
    assert r.json() == {"root": "/copy/of/src", "created": 0, "updated": 8, "unchanged": 0}
    assert zk.get("/copy/of/src/text")[0] == "héllo".encode()
    zk.set("/copy/of/src/text", b"changed")
    r = cli("load", str(out), "/copy/of/src", "--no-overwrite")
    assert r.code == 0 and zk.get("/copy/of/src/text")[0] == b"changed"

    # from stdin
    assert cli("load", "-", "/piped", stdin=json.dumps(doc).encode()).code == 0
    assert _tree(zk, "/piped") == expected

    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    r = cli("load", str(bad), "/x")
    assert r.code == 2 and "not valid JSON" in one_error_line(r.err)
    bad.write_text('{"nodes": {"/a": {"value": "!!", "encoding": "base64"}}}')
    assert cli("load", str(bad), "/x").code == 2
    assert cli("load", str(tmp_path / "missing.json"), "/x").code == 2


def test_dump_with_acls(cli: Callable[..., Result], zk: Client, tmp_path: Path) -> None:
    zk.create("/acl", b"a")
    zk.create("/acl/ro", b"r", acl=[zkfast.ACL(int(Perm.READ), Id("world", "anyone"))])
    out = tmp_path / "acl.json"
    assert cli("dump", "/acl", "--acl", "-o", str(out)).code == 0
    doc = json.loads(out.read_text())
    assert doc["nodes"]["/ro"]["acl"] == ["world:anyone:r"]
    assert cli("load", str(out), "/restored").code == 0
    assert zk.get_acls("/restored/ro")[0] == [zkfast.ACL(int(Perm.READ), Id("world", "anyone"))]


def test_dump_and_load_directory(cli: Callable[..., Result], zk: Client, tmp_path: Path) -> None:
    _build_sample(zk)
    d = tmp_path / "tree"
    r = cli("dump", "/src", "--out", str(d))
    assert r.code == 0
    assert (d / ".zkdata").read_bytes() == b"root value"
    assert (d / "text").read_bytes() == "héllo".encode()  # a leaf is a file
    assert (d / "bin").read_bytes() == b"\x00\xff\xfe"
    assert (d / "empty").read_bytes() == b""
    assert (d / "dir" / ".zkdata").read_bytes() == b"dir value"  # a parent is a directory
    assert (d / "dir" / "sub" / "x").read_bytes() == b"x" * 1000
    assert not (d / "dir" / "sub" / ".zkdata").exists()  # empty value: no file

    r = cli("dump", "/src", "--out", str(d))
    assert r.code == 2 and str(d) in one_error_line(r.err)  # not over a non-empty directory
    assert cli("load", str(d), "/back").code == 0
    assert _tree(zk, "/back") == _tree(zk, "/src")

    # any directory of files loads: files become leaves
    cfg = tmp_path / "config"
    (cfg / "db").mkdir(parents=True)
    (cfg / "db" / "url").write_text("postgres://x")
    (cfg / "name").write_text("app")
    assert cli("load", str(cfg), "/cfg").code == 0
    assert zk.get("/cfg/db/url")[0] == b"postgres://x" and zk.get("/cfg/name")[0] == b"app"


def test_bulk_pipelined_dump_du_rm(cli: Callable[..., Result], zk: Client, tmp_path: Path) -> None:
    n_dirs, n_leaves = 20, 100
    zk.create("/big")
    for i in range(n_dirs):
        zk.create(f"/big/d{i:02d}", b"")
    futures = [zk.create_async(f"/big/d{i:02d}/n{j:03d}", b"v" * (i + 1))
               for i in range(n_dirs) for j in range(n_leaves)]
    for f in futures:
        f.result(30)
    total = 1 + n_dirs + n_dirs * n_leaves

    t0 = time.monotonic()
    out = tmp_path / "big.json"
    r = cli("--window", "64", "dump", "/big", "-o", str(out))
    assert r.code == 0 and f"dumped {total} nodes" in r.out
    assert len(json.loads(out.read_text())["nodes"]) == total

    r = cli("du", "/big", "--json")
    rows = r.json()
    assert rows[0] == {"path": "/big", "nodes": total,
                       "bytes": sum((i + 1) * n_leaves for i in range(n_dirs))}
    assert rows[1] == {"path": "/big/d19", "nodes": n_leaves + 1, "bytes": 20 * n_leaves}
    assert rows[-1]["path"] == "/big/d00"  # largest first
    r = cli("du", "/big", "--by", "nodes", "-d", "0")
    assert r.out.split() == ["NODES", "BYTES", "PATH", str(total), str(21000), "/big"]
    assert "K" in cli("du", "/big", "-H").out

    assert cli("load", str(out), "/big2").code == 0
    assert zk.count_children("/big2") == total - 1
    r = cli("rm", "-r", "/big")
    assert r.code == 0 and zk.exists("/big") is None
    assert cli("rm", "-r", "/big").code == 3
    assert cli("--window", "7", "rm", "-r", "/big2").code == 0 and zk.exists("/big2") is None
    assert time.monotonic() - t0 < 30


def test_bulk_progress_callbacks_add_up(zk: Client) -> None:
    """The progress= hooks the command line counts with (zkfast.recipe.bulk)."""
    from zkfast.recipe import bulk
    zk.create("/pg")
    for f in [zk.create_async(f"/pg/n{i}") for i in range(50)]:
        f.result(10)
    read: list[int] = []
    tree = bulk.get_tree(zk, "/pg", ops_per_request=8, max_requests=2, progress=read.append)
    assert sum(read) == len(tree) == 51 and len(read) > 1
    deleted: list[int] = []
    assert bulk.delete_tree(zk, "/pg", ops_per_request=8, max_requests=2,
                            progress=deleted.append) == sum(deleted) == 51


def test_rm_recursive_of_the_root_keeps_the_root(cli: Callable[..., Result], zk: Client) -> None:
    zk.ensure_path("/a/b")
    zk.ensure_path("/c")
    assert cli("rm", "-r", "/").code == 0
    assert zk.get_children("/") == [] and zk.exists("/") is not None


class TerminalInput(io.TextIOWrapper):
    """stdin that says it is a terminal, with the given answer typed in."""

    def __init__(self, typed: str) -> None:
        super().__init__(io.BytesIO(typed.encode()), encoding="utf-8")

    def isatty(self) -> bool:
        return True


def test_rm_json_and_summary(cli: Callable[..., Result], zk: Client) -> None:
    zk.ensure_path("/one")
    r = cli("--json", "rm", "/one")
    assert r.code == 0 and r.json() == {"path": "/one", "deleted": 1}
    zk.ensure_path("/tree/a/b")
    r = cli("rm", "-r", "/tree")
    assert (r.code, r.out) == (0, "deleted 3 nodes: /tree\n")
    zk.ensure_path("/tree/a")
    assert cli("--json", "rm", "-r", "/tree").json() == {"path": "/tree", "deleted": 2}


def test_rm_r_of_a_root_or_a_big_tree_asks_on_a_terminal(hosts: str, zk: Client) -> None:
    from zkfast.cli.commands.nodes import CONFIRM_ABOVE
    zk.ensure_path("/a/b")
    for i in range(CONFIRM_ABOVE):
        zk.create_async(f"/a/n{i}")
    zk.sync("/a")

    def rm(*argv: str, typed: str = "") -> Result:
        raw = io.BytesIO()
        out = io.TextIOWrapper(raw, encoding="utf-8", write_through=True)
        err = io.StringIO()
        code = main(["--hosts", hosts, "rm", *argv], stdout=out, stderr=err,
                    stdin=TerminalInput(typed))
        return Result(code, raw.getvalue().decode(), raw.getvalue(), err.getvalue())

    for root, count in (("/", CONFIRM_ABOVE + 2), ("/a", CONFIRM_ABOVE + 2)):
        r = rm("-r", root, typed="n\n")
        assert r.code == 1 and "not deleted" in r.err.splitlines()[-1]
        assert f"{count} nodes" in r.err and "[y/N]" in r.err
        assert zk.count_children("/a") == CONFIRM_ABOVE + 1  # nothing went
    r = rm("-r", "/a/b")  # small, not a root: no question
    assert r.code == 0 and "[y/N]" not in r.err
    r = rm("-r", "/a", typed="yes\n")
    assert r.code == 0 and r.out == f"deleted {CONFIRM_ABOVE + 1} nodes: /a\n"
    zk.ensure_path("/c/d")
    r = rm("-r", "--yes", "/")
    assert r.code == 0 and "[y/N]" not in r.err and r.out == "deleted 2 nodes: /\n"
    assert zk.get_children("/") == []


# ---------------------------------------------------------------- watch


def test_watch_recursive_in_process(cli: Callable[..., Result], zk: Client) -> None:
    zk.create("/w")
    err = SignalingStream()
    result: list[Result] = []
    t = threading.Thread(target=lambda: result.append(
        cli("watch", "-r", "/w", "--count", "3", "--timeout", "20", "--json", stderr=err)))
    t.start()
    err.wait_for("watching /w recursively")
    zk.create("/w/a", b"1")
    zk.set("/w/a", b"2")
    zk.delete("/w/a")
    t.join(20)
    assert not t.is_alive()
    r = result[0]
    assert r.code == 0, r.err
    events = [json.loads(line) for line in r.out.splitlines()]
    assert [(e["type"], e["path"]) for e in events] == [
        ("NODE_CREATED", "/w/a"), ("NODE_DATA_CHANGED", "/w/a"), ("NODE_DELETED", "/w/a")]
    assert events[0]["state"] == "CONNECTED"


def test_watch_timeouts(cli: Callable[..., Result], zk: Client) -> None:
    zk.create("/quiet")
    r = cli("watch", "/quiet", "--timeout", "0.3")
    assert r.code == 0 and r.out == ""
    r = cli("watch", "/quiet", "--timeout", "0.3", "--count", "1")
    assert r.code == 6 and "timed out" in r.err
    assert cli("watch", "/missing-is-fine-for-persistent", "--timeout", "0.1").code == 0


def test_watch_subprocess_stream_and_ctrl_c(hosts: str, zk: Client) -> None:
    zk.create("/sw")
    p = subprocess.Popen(zkfast_cmd("watch", "/sw"), env=subprocess_env(ZKFAST_HOSTS=hosts),
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert "watching /sw" in p.stderr.readline()
        zk.set("/sw", b"1")
        assert p.stdout.readline() == "NODE_DATA_CHANGED /sw\n"
        zk.create("/sw/kid")  # not recursive: the parent's children change
        assert p.stdout.readline() == "NODE_CHILDREN_CHANGED /sw\n"
        p.send_signal(signal.SIGINT)
        assert p.wait(10) == 0  # Ctrl-C is the normal end of a watch
    finally:
        if p.poll() is None:
            p.kill()
        p.stdout.close()
        p.stderr.close()


# ---------------------------------------------------------------- health


def test_health(zk_server: ZooKeeperServer) -> None:
    r = run_cli(["--hosts", zk_server.hosts, "health"])
    assert r.code == 0, r.err
    header, row = r.out.splitlines()
    assert header.split()[:3] == ["SERVER", "STATUS", "MODE"]
    assert row.split()[:3] == [zk_server.hosts, "ok", "standalone"]

    r = run_cli(["--hosts", f"{zk_server.hosts},127.0.0.1:1/chroot", "--timeout", "2",
                 "health", "--json"])
    assert r.code == 9
    doc = {e["server"]: e for e in r.json()}
    assert doc[zk_server.hosts]["status"] == "ok" and doc[zk_server.hosts]["znodes"] > 0
    assert doc[zk_server.hosts]["version"].startswith("3.")
    assert doc["127.0.0.1:1"]["status"] == "down" and doc["127.0.0.1:1"]["error"]


# ---------------------------------------------------------------- lock


def test_lock_runs_the_command_and_passes_its_exit_code(cli: Callable[..., Result],
                                                        zk: Client) -> None:
    code = "import os, sys; print(os.environ['ZKFAST_LOCK_PATH']); sys.exit(5)"
    r = cli("lock", "/locks/job", "--", sys.executable, "-c", code)
    assert r.code == 5
    assert zk.get_children("/locks/job") == []  # released
    r = cli("lock", "/locks/job", "--", "/no/such/program")
    assert r.code == 127 and "cannot run" in r.err
    assert zk.get_children("/locks/job") == []
    assert cli("lock", "/locks/job").code == 2  # no command


def test_lock_excludes_and_times_out(hosts: str, zk: Client, tmp_path: Path) -> None:
    env = subprocess_env(ZKFAST_HOSTS=hosts)
    log = tmp_path / "log"
    body = (f"import time; f = open({str(log)!r}, 'a'); f.write('start\\n'); f.flush(); "
            "time.sleep(0.4); f.write('end\\n')")
    procs = [subprocess.Popen(zkfast_cmd("-q", "lock", "/locks/ex", "--", sys.executable,
                                         "-c", body), env=env) for _ in range(3)]
    for p in procs:
        assert p.wait(60) == 0
    assert log.read_text().split() == ["start", "end"] * 3

    # a long holder: a second locker gives up after --timeout, SIGTERM reaches the command
    holder = subprocess.Popen(zkfast_cmd("-q", "lock", "/locks/ex", "--", sys.executable, "-c",
                                         "import time; time.sleep(60)"), env=env)
    try:
        wait_until(lambda: zk.get_children("/locks/ex"), timeout=20)
        r = run_cli(["--hosts", hosts, "lock", "/locks/ex", "--timeout", "0.5", "--", "true"])
        assert r.code == 6 and "could not acquire" in one_error_line(r.err)
        holder.send_signal(signal.SIGTERM)
        assert holder.wait(20) == 128 + signal.SIGTERM
    finally:
        if holder.poll() is None:
            holder.kill()
    wait_until(lambda: not zk.get_children("/locks/ex"), timeout=20)


# ---------------------------------------------------------------- TLS, SASL, subprocess


def test_tls_flags(zk_tls_server: ZooKeeperServer, zk_chroot: str) -> None:
    with Client(zk_tls_server.hosts) as admin:
        admin.ensure_path(zk_chroot + "/tls-node")
        try:
            secure = zk_tls_server.secure_hosts + zk_chroot
            r = run_cli(["--hosts", secure, "--cafile", zk_tls_server.ca_file, "ls", "/"])
            assert (r.code, r.out) == (0, "tls-node\n"), r.err
            r = run_cli(["--hosts", secure, "--tls", "--no-verify", "ls", "/"])
            assert r.code == 0, r.err
            r = run_cli(["--hosts", secure, "--cafile", zk_tls_server.ca_file,
                         "--certfile", zk_tls_server.client_cert_file,
                         "--keyfile", zk_tls_server.client_key_file, "ls", "/"])
            assert r.code == 0, r.err
            r = run_cli(["--hosts", secure, "--tls", "--timeout", "2", "ls", "/"])  # untrusted CA
            assert r.code == 6 and "could not connect" in one_error_line(r.err)
            r = run_cli(["--hosts", secure, "--cafile", "/no/such/ca.pem", "ls", "/"])
            assert r.code == 2 and "--cafile /no/such/ca.pem" in one_error_line(r.err)
        finally:
            admin.delete(zk_chroot, recursive=True)


def test_sasl_login(zk_sasl_server: ZooKeeperServer) -> None:
    pytest.importorskip("puresasl")
    h = zk_sasl_server.hosts
    path = f"/cli-sasl-{os.getpid()}"
    r = run_cli(["--hosts", h, "--sasl", f"bob:{SASL_USERS['bob']}", "create", path, "s",
                 "--acl", "sasl:bob:cdrwa"])
    assert r.code == 0, r.err
    try:
        assert run_cli(["--hosts", h, "get", path]).code == 7
        r = run_cli(["--hosts", h, "--sasl", f"bob:{SASL_USERS['bob']}", "get", path])
        assert (r.code, r.raw) == (0, b"s")
        r = run_cli(["--hosts", h, "--sasl", "bob:wrong", "--timeout", "5", "get", path])
        assert r.code == 7 and "authentication failed" in one_error_line(r.err)
    finally:
        run_cli(["--hosts", h, "--sasl", f"bob:{SASL_USERS['bob']}", "rm", path])


def test_python_m_zkfast(hosts: str, zk: Client) -> None:
    zk.create("/sub", b"from subprocess")
    env = subprocess_env(ZKFAST_HOSTS=hosts)
    p = subprocess.run(zkfast_cmd("get", "/sub"), check=False, env=env, capture_output=True,
                       timeout=60)
    assert (p.returncode, p.stdout) == (0, b"from subprocess")
    p = subprocess.run(zkfast_cmd("ls", "/missing"), check=False, env=env, capture_output=True,
                       text=True, timeout=60)
    assert p.returncode == 3 and p.stdout == ""
    assert p.stderr == "zkfast: error: node does not exist: /missing\n"
    p = subprocess.run(zkfast_cmd("--json", "ls", "/"), check=False, env=env, capture_output=True,
                       text=True, timeout=60)
    assert json.loads(p.stdout) == ["sub"]


def test_closed_stdout_exits_141_in_every_output_mode(hosts: str, zk: Client) -> None:
    """The reader of stdout quits early (`| head -c 10`) while the output is larger
    than a pipe holds: plain text, --json and dump all exit 141, quietly. (--json and
    dump exited 0: Python's buffered write of one big string returns short when the
    reader quits part-way, and the text layer dropped the rest without an error.)"""
    zk.create("/big")
    names = [f"node-with-a-rather-long-name-{i:05d}" for i in range(5000)]
    for f in [zk.create_async(f"/big/{n}", b"v" * 20) for n in names]:
        f.result(30)
    env = subprocess_env(ZKFAST_HOSTS=hosts)
    for argv in (["ls", "-R", "/"], ["--json", "ls", "/big"], ["--json", "ls", "-R", "/"],
                 ["--json", "du", "-d", "2", "/"], ["du", "-d", "2", "/"], ["dump", "/"],
                 ["tree", "/"], ["--json", "tree", "/"]):
        p = subprocess.Popen(zkfast_cmd(*argv), env=env, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE)
        assert p.stdout is not None and p.stderr is not None
        assert len(p.stdout.read(10)) == 10
        p.stdout.close()  # like head: the reader is gone, most of the output unread
        err = p.stderr.read().decode()
        p.stderr.close()
        assert p.wait(60) == 141, (argv, err)
        assert "Traceback" not in err and "Exception ignored" not in err, (argv, err)


# ---------------------------------------------------------------- output helpers


class FakeTTY(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize("with_rich", [True, False], ids=["rich", "plain"])
def test_bulk_commands_show_counts(cli: Callable[..., Result], zk: Client, tmp_path: Path,
                                   monkeypatch: pytest.MonkeyPatch, with_rich: bool) -> None:
    """du, dump, rm -r, ls -R, tree and load all count nodes (done/total, rate) on a
    terminal, with rich (the `cli` extra) or without it."""
    import rich  # noqa: F401 - the `test` extra brings it
    from zkfast.cli.output import load_rich
    if not with_rich:
        for name in [m for m in sys.modules if m == "rich" or m.startswith("rich.")] + ["rich"]:
            monkeypatch.setitem(sys.modules, name, None)
    assert (load_rich() is not None) == with_rich
    monkeypatch.setattr(Progress, "DELAY", 0.0)
    monkeypatch.setattr(Progress, "REDRAW", 0.0)
    zk.create("/p")
    for f in [zk.create_async(f"/p/n{i}") for i in range(300)]:
        f.result(10)
    dump = tmp_path / "p.json"
    for argv, desc in ((["du", "/p"], "reading /p"), (["dump", "/p", "-o", str(dump)], "reading /p"),
                       (["ls", "-R", "/p"], "listing /p"), (["tree", "/p"], "listing /p"),
                       (["load", str(dump), "/q"], "loading into /q"),
                       (["rm", "-r", "--yes", "/p"], "deleting /p")):
        err = FakeTTY()
        r = cli("--window", "64", *argv, stderr=err)
        assert r.code == 0, (argv, r.err)
        text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", err.getvalue())
        assert desc in text, (argv, text)
        assert "301/301 nodes" in text.replace(",", ""), (argv, text)
        assert "nodes/s" in text, (argv, text)


def test_exit_codes_are_documented() -> None:
    doc = (Path(__file__).resolve().parents[2] / "docs" / "cli.md").read_text()
    for code in EXIT_CODES:
        assert f"| {code} " in doc, code
