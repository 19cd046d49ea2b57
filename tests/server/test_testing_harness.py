"""Tests of zkfast.testing itself, mostly with raw sockets and four-letter words.

Requests are hand-encoded jute (see ``_Raw``), so the harness can be trusted
independently of the code it will be used to test. The exceptions use ``zkfast.Client``
the way a user would: the development server (``python -m zkfast.testing``) and
dynamic reconfiguration.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import socketserver
import ssl
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Callable, Iterator

import pytest

from zkfast import BadVersionError, Client, NoAuthError
from zkfast.testing import (
    INSTALL_HINT,
    Ensemble,
    PortInUseError,
    TcpProxy,
    ZooKeeperNotAvailable,
    ZooKeeperServer,
    expire_session,
    find_classpath,
    four_letter,
    generate_tls_files,
    parse_dynamic_config,
    parse_hosts,
    raw_connect,
    reply_frame,
    reply_header,
    request_frame,
)
from zkfast.testing.ports import free_ports
from zkfast.testing.rawsession import recv_frame

pytest_plugins = ["pytester", "zkfast.testing.pytest_plugin"]

NO_NODE = -101


# --------------------------------------------------------------------------- raw jute helpers


def _string(s: str | bytes) -> bytes:
    b = s.encode() if isinstance(s, str) else s
    return struct.pack(">i", len(b)) + b


class _Raw:
    """A hand-rolled ZooKeeper session over a plain socket: just enough to create and read."""

    def __init__(self, host: str, port: int, **kw: object) -> None:
        self.sock, self.resp = raw_connect(host, port, **kw)  # type: ignore[arg-type]
        self.xid = 0

    def request(self, op: int, body: bytes) -> tuple[int, bytes]:
        self.xid += 1
        payload = struct.pack(">ii", self.xid, op) + body
        self.sock.sendall(struct.pack(">i", len(payload)) + payload)
        while True:
            reply = recv_frame(self.sock)
            xid, _zxid, err = struct.unpack_from(">iqi", reply)
            if xid == self.xid:
                return err, reply[16:]

    def create(self, path: str, data: bytes, ephemeral: bool = False) -> int:
        acl = struct.pack(">ii", 1, 31) + _string("world") + _string("anyone")
        body = _string(path) + _string(data) + acl + struct.pack(">i", 1 if ephemeral else 0)
        return self.request(1, body)[0]

    def get(self, path: str) -> tuple[int, bytes | None]:
        err, body = self.request(4, _string(path) + b"\0")
        if err:
            return err, None
        (n,) = struct.unpack_from(">i", body)
        return 0, body[4:4 + n]

    def close(self) -> None:
        self.sock.close()


def _raw(server: ZooKeeperServer, **kw: object) -> _Raw:
    return _Raw(server.host, server.port, **kw)


def _recv_all(sock: socket.socket, timeout: float = 5.0) -> bytes:
    sock.settimeout(timeout)
    out = b""
    while True:
        try:
            data = sock.recv(65536)
        except ConnectionResetError:
            return out
        if not data:
            return out
        out += data


# --------------------------------------------------------------------------- discovery


def test_find_classpath_has_server_jars() -> None:
    names = [Path(p).name for p in find_classpath().split(os.pathsep)]
    for jar in ("zookeeper.jar", "zookeeper-jute.jar", "slf4j-api.jar", "netty-handler.jar",
                "netty-codec.jar"):
        assert jar in names
    assert any(n.startswith("slf4j-simple") for n in names)


def test_missing_jars_raise_with_install_hint(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ZKFAST_ZK_CLASSPATH", "/nonexistent/zookeeper.jar")
    with pytest.raises(ZooKeeperNotAvailable, match="apt-get install -y zookeeper"):
        ZooKeeperServer()
    monkeypatch.delenv("ZKFAST_ZK_CLASSPATH")
    monkeypatch.setenv("ZKFAST_JAVA", "/nonexistent/java")
    with pytest.raises(ZooKeeperNotAvailable, match="apt-get install -y zookeeper"):
        ZooKeeperServer()
    assert "apt-get install -y zookeeper" in INSTALL_HINT


def test_fixtures_fail_rather_than_skip_without_zookeeper(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ZKFAST_ZK_CLASSPATH", "/nonexistent/zookeeper.jar")
    pytester.makeconftest('pytest_plugins = ["zkfast.testing.pytest_plugin"]')
    pytester.makepyfile("def test_needs_zk(zk_server):\n    pass\n")
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*ZooKeeper is not available*apt-get install -y zookeeper*"])


def test_parse_hosts() -> None:
    assert parse_hosts("127.0.0.1:1,127.0.0.1:2/chroot/x") == [("127.0.0.1", 1), ("127.0.0.1", 2)]
    assert parse_hosts("[::1]:5,localhost") == [("::1", 5), ("localhost", 2181)]


# --------------------------------------------------------------------------- standalone


def test_shared_server_serves(zk_server: ZooKeeperServer, zk_chroot: str) -> None:
    assert zk_server.running
    assert zk_server.hosts == f"127.0.0.1:{zk_server.port}"
    assert zk_server.four_letter("ruok") == "imok"
    assert zk_server.mode() == "standalone"
    assert zk_server.startup_seconds is not None and zk_server.startup_seconds < 30
    raw = _raw(zk_server)
    try:
        assert raw.resp.timeout > 0 and raw.resp.read_only is False
        assert raw.create(zk_chroot, b"x") == 0
        assert raw.get(zk_chroot) == (0, b"x")
    finally:
        raw.close()


@pytest.mark.parametrize("case", ["a b", "a/b"])
def test_chroot_is_unique_and_valid(zk_chroot: str, case: str) -> None:
    assert re.fullmatch(r"/t-test_chroot_is_unique_and_valid_a_b-[0-9a-f]{8}", zk_chroot)


def test_lifecycle_restart_keeps_data_kill_and_close() -> None:
    server = ZooKeeperServer(tick_time=500, min_session_timeout=1000, max_session_timeout=3000)
    workdir = server.workdir
    with server:
        port = server.port
        raw = _raw(server, timeout_ms=30000)
        assert raw.resp.timeout == 3000  # clamped to maxSessionTimeout
        assert raw.create("/persist", b"survives") == 0
        raw.close()

        server.stop()
        assert not server.running and server.pid is None
        with pytest.raises(OSError):
            four_letter(server.host, port, "ruok", timeout=1)

        server.start()
        assert server.port == port
        raw = _raw(server)
        assert raw.get("/persist") == (0, b"survives")
        assert raw.create("/after-restart", b"2") == 0
        raw.close()

        server.kill()
        assert not server.running
        server.restart()  # restart of a dead server just starts it
        raw = _raw(server)
        assert raw.get("/after-restart") == (0, b"2")
        raw.close()
        assert "==== zkfast: start #3" in Path(server.log_path).read_text()
    assert not os.path.exists(workdir)
    server.close()  # idempotent


def test_expire_session(zk_server: ZooKeeperServer, zk_chroot: str) -> None:
    owner = _raw(zk_server)
    observer = _raw(zk_server)
    try:
        assert owner.create(zk_chroot, b"", ephemeral=True) == 0
        sid, pw = owner.resp.session_id, owner.resp.password
        assert expire_session(zk_server.hosts, sid, pw) is True
        assert _recv_all(owner.sock) == b""  # the server dropped the owner's connection
        assert observer.get(zk_chroot) == (NO_NODE, None)  # its ephemeral is gone
        again = _raw(zk_server, session_id=sid, password=pw)
        assert again.resp.timeout <= 0  # the session is expired for good
        again.close()
        assert expire_session(zk_server.hosts, sid, pw) is False
    finally:
        owner.close()
        observer.close()


def test_sasl_server_accepts_digest_md5(zk_sasl_server: ZooKeeperServer) -> None:
    from puresasl.client import SASLClient

    assert zk_sasl_server.jaas_path and 'user_bob="bobsecret"' in Path(zk_sasl_server.jaas_path).read_text()

    def login(password: str) -> int:
        raw = _raw(zk_sasl_server)
        try:
            sasl = SASLClient("zk-sasl-md5", "zookeeper", mechanism="DIGEST-MD5", username="bob",
                              password=password)
            token = b""  # DIGEST-MD5 starts with an empty token; the server sends the challenge
            while True:
                err, body = raw.request(102, _string(token))
                if err:
                    return err
                (n,) = struct.unpack_from(">i", body)
                token = sasl.process(body[4:4 + max(n, 0)]) or b""
                if sasl.complete:  # the last server token (rspauth) needs no answer
                    return 0
        finally:
            raw.close()

    assert login("bobsecret") == 0
    assert login("wrong") == -115  # AUTHFAILED


def test_plugin_heals_stopped_server_and_marks_tests(pytester: pytest.Pytester) -> None:
    pytester.makeconftest('pytest_plugins = ["zkfast.testing.pytest_plugin"]')
    pytester.makepyfile(
        """
        def test_a_stops(zk_server):
            zk_server.stop()

        def test_b_running_again(zk_server, zk_chroot):
            assert zk_server.running and zk_server.four_letter("ruok") == "imok"

        def test_c_no_zookeeper():
            pass
        """
    )
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider", "-m", "zookeeper")
    result.assert_outcomes(passed=2, deselected=1)


# --------------------------------------------------------------------------- TLS


@pytest.mark.parametrize("backend", ["cryptography", "openssl"])
def test_generate_tls_files_handshake(tmp_path: Path, backend: str, monkeypatch: pytest.MonkeyPatch) -> None:
    if backend == "openssl":
        import builtins

        real_import = builtins.__import__

        def no_cryptography(name: str, *a: object, **kw: object) -> object:
            if name == "cryptography" or name.startswith("cryptography."):
                raise ImportError(name)
            return real_import(name, *a, **kw)  # type: ignore[arg-type]

        monkeypatch.setattr(builtins, "__import__", no_cryptography)
    files = generate_tls_files(tmp_path)
    monkeypatch.undo()

    # Mutual TLS between two Python endpoints proves the CA, SANs and key usages fit.
    srv_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=files.ca_file)
    srv_ctx.load_cert_chain(files.server_cert_file, files.server_key_file)
    srv_ctx.verify_mode = ssl.CERT_REQUIRED
    cli_ctx = ssl.create_default_context(cafile=files.ca_file)
    cli_ctx.load_cert_chain(files.client_cert_file, files.client_key_file)
    lst = socket.create_server(("127.0.0.1", 0))
    peer: list[object] = []

    def serve() -> None:
        conn, _ = lst.accept()
        with srv_ctx.wrap_socket(conn, server_side=True) as tls:
            peer.append(tls.getpeercert())
            tls.sendall(tls.recv(10))

    t = threading.Thread(target=serve)
    t.start()
    try:
        with cli_ctx.wrap_socket(socket.create_connection(lst.getsockname(), 5),
                                 server_hostname="127.0.0.1") as c:
            c.sendall(b"ping")
            assert c.recv(10) == b"ping"
    finally:
        t.join(5)
        lst.close()
    assert peer and "zkfast-test-client" in str(peer[0])
    assert Path(files.server_keystore).read_text().count("-----BEGIN") == 2


def test_tls_server_secure_port(zk_tls_server: ZooKeeperServer) -> None:
    s = zk_tls_server
    port = s.secure_port
    assert port is not None
    assert s.secure_hosts == f"127.0.0.1:{s.secure_port}" and s.secure_port != s.port
    assert "BEGIN CERTIFICATE" in Path(s.ca_file).read_text()
    # "want": a client certificate is optional.
    for cert in (False, True):
        assert four_letter(s.host, port, "ruok", ssl_context=s.ssl_context(client_cert=cert)) == "imok"
    assert s.four_letter("ruok") == "imok"  # the plain port stays open
    sock, resp = raw_connect(s.host, port, ssl_context=s.ssl_context())
    sock.close()
    assert resp.timeout > 0 and resp.session_id != 0
    # A client that doesn't trust the test CA is refused.
    with pytest.raises(ssl.SSLCertVerificationError):
        four_letter(s.host, port, "ruok", ssl_context=ssl.create_default_context())


def test_tls_client_auth_need() -> None:
    with ZooKeeperServer(tls=True, tls_client_auth="need") as s:
        port = s.secure_port
        assert port is not None
        assert s.four_letter("ruok", secure=True) == "imok"
        with pytest.raises((ssl.SSLError, ConnectionError)):
            # TLS 1.3: the rejection may surface on the first read rather than the handshake.
            four_letter(s.host, port, "ruok", ssl_context=s.ssl_context(client_cert=False))


# --------------------------------------------------------------------------- ensembles


def test_ensemble_elects_and_survives_member_loss(zk_ensemble: Ensemble, zk_chroot: str) -> None:
    ens = zk_ensemble
    assert len(parse_hosts(ens.hosts)) == 3
    modes = [str(s.mode()) for s in ens.servers]
    assert sorted(modes) == ["follower", "follower", "leader"]
    assert modes[ens.leader()] == "leader"

    killed = ens.kill_leader()
    assert not ens.servers[killed].running
    new_leader = ens.wait_for_quorum(30)
    assert new_leader != killed
    survivor = ens.servers[(killed + 1) % 3]
    raw = _raw(survivor)
    try:
        assert raw.create(zk_chroot, b"quorum write") == 0  # 2 of 3 still make a quorum
        assert raw.get(zk_chroot) == (0, b"quorum write")
        # Expiry works through any member: the session lives on survivor, expire via the others.
        others = ",".join(s.hosts for i, s in enumerate(ens.servers) if s is not survivor)
        assert expire_session(others, raw.resp.session_id, raw.resp.password) is True
    finally:
        raw.close()

    ens.start(killed)
    assert ens.servers[killed].mode() in ("leader", "follower")

    victims = ens.kill_majority()
    assert len(victims) == 2
    (left,) = [i for i in range(3) if i not in victims]
    assert "not currently serving" in _wait_for(lambda: ens.servers[left].four_letter("srvr"),
                                                "not currently")
    ens.ensure_running()  # what the plugin does before the next test
    assert sorted(str(s.mode()) for s in ens.servers) == ["follower", "follower", "leader"]


def _wait_for(fn: Callable[[], str], needle: str, timeout: float = 15.0) -> str:
    deadline = time.monotonic() + timeout
    while True:
        out = fn()
        if needle in out or time.monotonic() > deadline:
            return out
        time.sleep(0.1)


def test_read_only_ensemble_survivor_serves_reads() -> None:
    with Ensemble(3, read_only=True) as ens:
        leader = ens.leader()
        raw = _raw(ens.servers[leader])
        assert raw.create("/ro", b"before partition") == 0
        raw.close()
        keep = (leader + 1) % 3
        ens.kill_majority(keep=keep)
        survivor = ens.servers[keep]
        assert _wait_for(lambda: survivor.mode() or "", "read-only", 30) == "read-only"
        raw = _raw(survivor, read_only=True)
        try:
            assert raw.resp.read_only is True
            assert raw.get("/ro") == (0, b"before partition")
        finally:
            raw.close()
        with pytest.raises(ConnectionError):
            raw_connect(survivor.host, survivor.port, read_only=False)  # not asking for r/o: refused


# --------------------------------------------------------------------------- dynamic reconfiguration


def _zk_config(zk: Client) -> tuple[dict[int, str], int | None]:
    zk.sync("/zookeeper/config")
    return parse_dynamic_config(zk.get("/zookeeper/config")[0])


def _wait_modes(ens: Ensemble, expected: list[str], timeout: float = 30.0) -> list[str]:
    """Sorted ``srvr`` modes of every member, once they equal ``expected`` (or at the
    deadline): a server changes role a moment after the reconfig that changed it."""
    deadline = time.monotonic() + timeout
    while True:
        modes = sorted(str(s.mode()) for s in ens)
        if modes == expected or time.monotonic() > deadline:
            return modes
        time.sleep(0.1)


@pytest.mark.slow  # five JVMs: ~14 s on a quiet 2-core machine, 25 s under load
def test_reconfig_grows_three_to_five_with_an_observer_and_back() -> None:
    with Ensemble(3, reconfig=True) as ens, Client(ens.hosts) as zk:
        members, version0 = _zk_config(zk)
        assert members == {ens.myid(i): ens.config_line(i).split("=", 1)[1] for i in range(3)}
        assert ens.current_config() == (members, version0)  # `conf` agrees with the znode
        zk.create("/before", b"1")

        joiner = ens.add_server(start=False)
        observer = ens.add_server(observer=True, start=False)
        for i in (joiner, observer):  # both JVMs boot at once
            ens[i].start(wait=False)
        for i in (joiner, observer):
            ens[i].wait_serving(60)
        assert [ens.myid(i) for i in (joiner, observer)] == [4, 5]
        assert ens.config_line(observer).endswith(f":observer;127.0.0.1:{ens[observer].port}")
        assert 4 not in _zk_config(zk)[0]  # started and syncing, but not a member yet

        data, stat = zk.reconfig(joining=f"{ens.config_line(joiner)},{ens.config_line(observer)}")
        grown, version1 = parse_dynamic_config(data)
        assert grown == {**members, 4: ens.config_line(joiner).split("=", 1)[1],
                         5: ens.config_line(observer).split("=", 1)[1]}
        assert version0 is not None and version1 is not None and version1 > version0
        assert stat.mzxid == version1  # the version is the zxid of the reconfig
        assert _zk_config(zk) == (grown, version1)
        # Not a member yet, the observer had synced as a (non-voting) follower.
        assert _wait_modes(ens, ["follower"] * 3 + ["leader", "observer"]) == \
            ["follower"] * 3 + ["leader", "observer"]
        assert ens[observer].mode() == "observer"
        with Client(ens[joiner].hosts) as via_new:  # the new members serve the same data
            assert via_new.get("/before")[0] == b"1"
            assert _zk_config(via_new) == (grown, version1)

        data, _ = zk.reconfig(leaving=f"{ens.myid(joiner)},{ens.myid(observer)}")
        shrunk, version2 = parse_dynamic_config(data)
        assert shrunk == members and version2 is not None and version2 > version1
        assert _zk_config(zk) == (members, version2)
        ens.remove_server(observer)
        ens.remove_server(joiner)
        assert len(ens) == 3
        # The survivors keep the new configuration across a restart (ZooKeeper rewrote
        # their zoo.cfg to point at it; the harness must not overwrite it).
        leader = ens.leader()
        ens.restart(leader)
        ens.wait_for_quorum(30, need_all=True)
        assert f"dynamicConfigFile={ens[leader].dynamic_config_path}.{version2:x}\n" in \
            Path(ens[leader].config_path).read_text()
        assert ens.current_config() == (members, version2)
        zk.create("/after", b"2")
        assert zk.get("/after")[0] == b"2"


def test_reconfig_superuser_and_observers() -> None:
    with Ensemble(1, observers=1, reconfig=True, superuser_password="s3cret") as ens:
        assert [ens[0].mode(), ens[1].mode()] == ["leader", "observer"]
        # Not through the observer: the server a reconfig removes drops its clients.
        with Client(ens[0].hosts) as zk:
            members, version = _zk_config(zk)
            assert members[2].endswith(f":observer;127.0.0.1:{ens[1].port}")
            with pytest.raises(NoAuthError):
                zk.reconfig(leaving="2")  # not skipACL: only the superuser may
            zk.add_auth("digest", "super:s3cret")
            assert version is not None
            with pytest.raises(BadVersionError):  # past the ACL check, refused on the version
                zk.reconfig(leaving="2", from_config=version + 1)
            data, _ = zk.reconfig(leaving="2", from_config=version)
            assert list(parse_dynamic_config(data)[0]) == [1]


def test_static_ensemble_with_an_observer() -> None:
    with Ensemble(1, observers=1) as ens:
        assert [ens[0].mode(), ens[1].mode()] == ["leader", "observer"]
        assert "peerType=observer" in Path(ens[1].config_path).read_text()
        raw = _raw(ens[1])
        try:
            assert raw.create("/via-observer", b"x") == 0  # forwarded to the leader
        finally:
            raw.close()
        raw = _raw(ens[0])
        try:
            assert raw.get("/via-observer") == (0, b"x")
        finally:
            raw.close()
        with pytest.raises(ValueError, match="reconfig=True"):
            ens.add_server()


# --------------------------------------------------------------------------- dev server


class _DevServer:
    """``python -m zkfast.testing`` as a user runs it, in a subprocess."""

    def __init__(self, *args: str) -> None:
        self.proc = subprocess.Popen([sys.executable, "-m", "zkfast.testing", *args],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.lines: list[str] = []
        assert self.proc.stdout is not None
        for line in self.proc.stdout:  # the banner ends with the "Stop with" line
            self.lines.append(line.rstrip("\n"))
            if line.startswith("Stop with"):
                break
        else:
            self.proc.wait(30)
            raise AssertionError(f"no banner; stdout {self.lines}, stderr:\n{self.proc.stderr.read()}")

    def field(self, name: str) -> str:
        return next(line.split(": ", 1)[1] for line in self.lines if line.startswith(name + ": "))

    @property
    def jvm_pids(self) -> list[int]:
        return [int(m) for m in re.findall(r": pid (\d+),", "\n".join(self.lines))]

    def stop(self, sig: int = signal.SIGTERM) -> tuple[int, str]:
        self.proc.send_signal(sig)
        rc = self.proc.wait(60)
        assert self.proc.stderr is not None
        return rc, self.proc.stderr.read()


def _pid_gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def test_devserver_serves_until_sigterm_and_keeps_data_dir(tmp_path: Path) -> None:
    (port,) = free_ports(1)
    data = tmp_path / "zk-data"
    dev = _DevServer("--port", str(port), "--data-dir", str(data), "--tick-time", "500")
    try:
        assert dev.field("connect") == f"127.0.0.1:{port}"
        assert "standalone" in dev.field("zookeeper")
        assert dev.field("data") == f"{data} (kept)"
        (jvm,) = dev.jvm_pids
        with Client(dev.field("connect")) as zk:
            zk.create("/kept", b"across runs")
    finally:
        rc, err = dev.stop()
    assert rc == 0 and "stopped" in err, err
    assert _pid_gone(jvm)  # the JVM was stopped and reaped, not orphaned
    assert four_letter_fails(port)
    assert (data / "version-2").is_dir()

    dev = _DevServer("--port", str(port), "--data-dir", str(data))
    try:
        with Client(dev.field("connect")) as zk:
            assert zk.get("/kept")[0] == b"across runs"
    finally:
        rc, err = dev.stop(signal.SIGINT)  # Ctrl-C
    assert rc == 0, err
    assert all(_pid_gone(p) for p in dev.jvm_pids)


def four_letter_fails(port: int) -> bool:
    try:
        four_letter("127.0.0.1", port, "ruok", timeout=1)
    except OSError:
        return True
    return False


def test_devserver_ensemble_with_tls() -> None:
    dev = _DevServer("--port", "0", "--ensemble", "3", "--tls")
    try:
        hosts = parse_hosts(dev.field("connect"))
        assert len(hosts) == 3 and len(dev.jvm_pids) == 3
        modes = sorted(line.split()[2].rstrip(":") for line in dev.lines if line.startswith("server."))
        assert modes == ["follower", "follower", "leader"]
        ctx = ssl.create_default_context(cafile=dev.field("  ca file").strip())
        with Client(dev.field("tls"), ssl_context=ctx) as zk:  # one CA verifies every member
            zk.create("/over-tls", b"1")
            assert zk.get("/over-tls")[0] == b"1"
    finally:
        rc, err = dev.stop()
    assert rc == 0, err
    assert all(_pid_gone(p) for p in dev.jvm_pids)


def test_port_in_use_is_a_clear_error() -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        server = ZooKeeperServer(port=port)
        try:
            with pytest.raises(PortInUseError, match=f"port {port} .* already in use"):
                server.start()
            assert not server.running
        finally:
            server.close()
        proc = subprocess.run([sys.executable, "-m", "zkfast.testing", "--port", str(port)],
                              capture_output=True, text=True, timeout=60)
        assert proc.returncode == 1
        assert f"port {port} on 127.0.0.1 is already in use" in proc.stderr
        assert "Traceback" not in proc.stderr
    for bad in (0, -1, 70000):
        with pytest.raises(ValueError, match="port"):
            ZooKeeperServer(port=bad)


def test_explicit_port_and_kept_data_dir(tmp_path: Path) -> None:
    (port,) = free_ports(1)
    with ZooKeeperServer(port=port, data_dir=tmp_path / "d") as server:
        assert server.hosts == f"127.0.0.1:{port}"
        raw = _raw(server)
        assert raw.create("/x", b"y") == 0
        raw.close()
        server.restart()
        assert server.port == port
    assert (tmp_path / "d" / "version-2").is_dir()  # close() removed its temp dir, not yours
    with ZooKeeperServer(port=port, data_dir=tmp_path / "d") as server:
        raw = _raw(server)
        assert raw.get("/x") == (0, b"y")
        raw.close()


# --------------------------------------------------------------------------- proxy


class _Echo(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self) -> None:
        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                while True:
                    try:
                        data = self.request.recv(65536)
                    except OSError:
                        return
                    if not data:
                        return
                    self.request.sendall(data)

        super().__init__(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.05})
        self.thread.start()

    def stop(self) -> None:
        self.shutdown()
        self.server_close()
        self.thread.join(5)


@pytest.fixture
def echo() -> Iterator[_Echo]:
    server = _Echo()
    yield server
    server.stop()


@pytest.fixture
def echo_proxy(echo: _Echo) -> Iterator[TcpProxy]:
    with TcpProxy("127.0.0.1", echo.server_address[1]) as proxy:
        yield proxy
    assert not proxy.errors


def _connect(proxy: TcpProxy) -> socket.socket:
    return socket.create_connection((proxy.host, proxy.port), timeout=5)


def _roundtrip(sock: socket.socket, data: bytes) -> bytes:
    sock.sendall(data)
    got = b""
    while len(got) < len(data):
        chunk = sock.recv(65536)
        if not chunk:
            break
        got += chunk
    return got


def test_proxy_refuses_non_loopback_targets() -> None:
    with pytest.raises(ValueError):
        TcpProxy("10.1.2.3", 2181)
    with pytest.raises(ValueError):
        TcpProxy("example.com", 2181)
    (port,) = free_ports(1)
    with pytest.raises(ValueError):
        TcpProxy("127.0.0.1", port, port=port).start()  # would forward to itself


def test_proxy_forwards_and_counts(echo_proxy: TcpProxy) -> None:
    big = os.urandom(3 << 20)
    with _connect(echo_proxy) as c:
        assert _roundtrip(c, b"hi") == b"hi"  # shorter than a length prefix: still forwarded
        assert _roundtrip(c, big) == big
    assert echo_proxy.connections_accepted == 1
    assert echo_proxy.bytes_to_server == echo_proxy.bytes_to_client == len(big) + 2
    assert echo_proxy.hosts == f"127.0.0.1:{echo_proxy.port}"


def test_proxy_drop_all_resets(echo_proxy: TcpProxy) -> None:
    c1, c2 = _connect(echo_proxy), _connect(echo_proxy)
    try:
        assert _roundtrip(c1, b"a") == b"a" and _roundtrip(c2, b"b") == b"b"
        assert echo_proxy.drop_all() == 2
        assert echo_proxy.active_connections == 0
        for c in (c1, c2):
            with pytest.raises(ConnectionResetError):
                c.recv(10)
        with _connect(echo_proxy) as c3:  # new connections work again
            assert _roundtrip(c3, b"c") == b"c"
    finally:
        c1.close()
        c2.close()


def test_proxy_blackhole_holds_then_delivers(echo_proxy: TcpProxy) -> None:
    with _connect(echo_proxy) as c:
        assert _roundtrip(c, b"x") == b"x"
        echo_proxy.blackhole()
        c.sendall(b"held")
        c.settimeout(0.3)
        with pytest.raises(socket.timeout):
            c.recv(10)
        echo_proxy.blackhole(False)
        c.settimeout(5)
        assert c.recv(10) == b"held"


def test_proxy_delay_throttle_refuse(echo_proxy: TcpProxy) -> None:
    with _connect(echo_proxy) as c:
        echo_proxy.delay(0.15)
        t0 = time.monotonic()
        assert _roundtrip(c, b"slow") == b"slow"
        assert time.monotonic() - t0 >= 0.29  # delayed each way
        echo_proxy.delay(0)
        echo_proxy.throttle(400_000)
        data = os.urandom(100_000)
        t0 = time.monotonic()
        assert _roundtrip(c, data) == data
        assert time.monotonic() - t0 >= 0.2
        echo_proxy.throttle(None)
        echo_proxy.refuse()
        with _connect(echo_proxy) as refused:
            assert _recv_all(refused, 5) == b""
        assert _roundtrip(c, b"still ok") == b"still ok"  # existing connections unaffected
        echo_proxy.reset_faults()
        with _connect(echo_proxy) as again:
            assert _roundtrip(again, b"ok") == b"ok"
    assert echo_proxy.connections_refused == 1


def test_proxy_target_down_closes_client() -> None:
    dead = socket.create_server(("127.0.0.1", 0))
    port = dead.getsockname()[1]
    dead.close()
    with TcpProxy("127.0.0.1", port) as proxy:
        try:
            c = _connect(proxy)
        except ConnectionResetError:
            pass  # the proxy's reset can beat connect()'s own completion check
        else:
            with c:
                assert _recv_all(c, 5) == b""
        assert proxy.connections_accepted == 1 and proxy.active_connections == 0


def test_proxy_zookeeper_frames_and_four_letter_words(zk_server: ZooKeeperServer, zk_proxy: TcpProxy) -> None:
    assert four_letter(zk_proxy.host, zk_proxy.port, "ruok") == "imok"  # unframed traffic passes
    raw = _Raw(zk_proxy.host, zk_proxy.port)
    try:
        assert raw.get("/zookeeper") == (0, b"")
    finally:
        raw.close()
    deadline = time.monotonic() + 5
    while zk_proxy.frames_to_client < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert zk_proxy.frames_to_server == 2  # ConnectRequest + getData
    assert zk_proxy.frames_to_client == 2  # ConnectResponse + reply


def test_proxy_drop_reply_after_server_applied(zk_server: ZooKeeperServer, zk_proxy: TcpProxy,
                                               zk_chroot: str) -> None:
    raw = _Raw(zk_proxy.host, zk_proxy.port)  # the ConnectResponse is never offered to the hook
    fired = zk_proxy.drop_reply(xid=2)
    try:
        assert raw.get("/")[0] == 0  # xid 1 passes
        with pytest.raises(ConnectionError):
            raw.create(zk_chroot, b"applied")  # xid 2: reply swallowed, connection closed
        assert fired.wait(5)
    finally:
        raw.close()
    direct = _raw(zk_server)
    try:
        assert direct.get(zk_chroot) == (0, b"applied")  # ...but the create happened
    finally:
        direct.close()


def test_proxy_drop_reply_predicate_sees_reply_bodies(zk_server: ZooKeeperServer, zk_proxy: TcpProxy) -> None:
    seen: list[tuple[int, int, int] | None] = []

    def no_node(body: bytes) -> bool:
        seen.append(reply_header(body))
        return seen[-1] is not None and seen[-1][2] == NO_NODE

    fired = zk_proxy.drop_reply(no_node)
    raw = _Raw(zk_proxy.host, zk_proxy.port)
    try:
        assert raw.get("/zookeeper")[0] == 0
        with pytest.raises(ConnectionError):
            raw.get("/does-not-exist")
        assert fired.is_set()
        assert [h[0] for h in seen if h] == [1, 2]  # no ConnectResponse among them
    finally:
        raw.close()


def test_proxy_cut_next_frame(zk_server: ZooKeeperServer, zk_proxy: TcpProxy) -> None:
    raw = _Raw(zk_proxy.host, zk_proxy.port)
    try:
        fired = zk_proxy.cut_next_frame()
        raw.xid += 1
        payload = struct.pack(">ii", raw.xid, 4) + _string("/zookeeper") + b"\0"
        raw.sock.sendall(struct.pack(">i", len(payload)) + payload)
        got = _recv_all(raw.sock)
        assert fired.wait(5)
        (length,) = struct.unpack_from(">i", got)
        assert 0 < len(got) < 4 + length  # half a frame, then EOF
    finally:
        raw.close()


def _framed(payload: bytes) -> bytes:
    return struct.pack(">i", len(payload)) + payload


def _recv_exactly(sock: socket.socket, n: int) -> bytes:
    sock.settimeout(5)
    got = b""
    while len(got) < n:
        chunk = sock.recv(n - len(got))
        if not chunk:
            break
        got += chunk
    return got


def _wait_until(check: Callable[[], bool], what: str, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.005)


def test_proxy_injects_between_frames_never_inside_one(echo_proxy: TcpProxy) -> None:
    p = echo_proxy
    with _connect(p) as c:
        # Before any frame has passed (the handshake), an injection waits for it.
        early = _framed(b"forged-1")
        assert p.inject_to_client(early) == 1
        hello = _framed(b"hello")
        c.sendall(hello)
        assert _recv_exactly(c, len(hello) + len(early)) == hello + early

        # Half of a frame has gone through to the client: the injection waits for the rest.
        big = _framed(os.urandom(200_000))
        c.sendall(big[:100_000])
        _wait_until(lambda: p.bytes_to_client >= len(hello) + 100_000, "the first half to pass")
        assert _recv_exactly(c, 100_000) == big[:100_000]
        mid = _framed(b"forged-2")
        assert p.inject_to_client(mid) == 1
        c.sendall(big[100_000:])
        assert _recv_exactly(c, len(big) - 100_000 + len(mid)) == big[100_000:] + mid

        # The same toward the server; the echo server sends back what reached it, in order.
        third = _framed(os.urandom(50_000))
        c.sendall(third[:20_000])
        _wait_until(lambda: p.bytes_to_server >= len(hello) + len(big) + 20_000, "a partial request")
        to_server = _framed(b"forged-3")
        assert p.inject_to_server(to_server) == 1
        c.sendall(third[20_000:])
        assert _recv_exactly(c, len(third) + len(to_server)) == third + to_server
    assert (p.injected_to_client, p.injected_to_server) == (2, 1)
    assert p.frames_to_client == 4  # forged frames are not counted as the server's


def test_proxy_forged_reply_reaches_a_zookeeper_client(zk_server: ZooKeeperServer,
                                                       zk_proxy: TcpProxy) -> None:
    forged = reply_frame(424242, 0x4242424242424242)  # an xid nobody waits for
    assert reply_header(forged[4:]) == (424242, 0x4242424242424242, 0)
    with socket.create_connection((zk_proxy.host, zk_proxy.port), timeout=10) as sock:
        assert zk_proxy.inject_to_client(forged) == 1  # queued until the ConnectResponse passed
        connect = struct.pack(">iqiqi", 0, 0, 30000, 0, 16) + b"\0" * 16 + b"\0"
        sock.sendall(_framed(connect))
        _version, timeout, session_id = struct.unpack_from(">iiq", recv_frame(sock))
        assert timeout > 0 and session_id != 0  # the real ConnectResponse came first
        assert recv_frame(sock) == forged[4:]  # ...then the forged reply, whole

        sock.sendall(request_frame(1, 4, _string("/zookeeper") + b"\0"))  # getData still works
        assert reply_header(recv_frame(sock))[::2] == (1, 0)  # type: ignore[index]
        # A forged request: the server answers it to the client.
        assert zk_proxy.inject_to_server(request_frame(77, 3, _string("/zookeeper") + b"\0")) == 1
        xid, zxid, err = reply_header(recv_frame(sock))  # type: ignore[misc]
        assert (xid, err) == (77, 0) and zxid != 0x4242424242424242
    assert (zk_proxy.injected_to_client, zk_proxy.injected_to_server) == (1, 1)
    _wait_until(lambda: zk_proxy.active_connections == 0, "the proxy to see the close")
    assert zk_proxy.inject_to_client(forged) == 0  # no live connection, nothing queued


def test_proxy_close_leaks_nothing(echo: _Echo) -> None:
    def fds() -> int:
        return len(os.listdir("/proc/self/fd"))

    threads_before, fds_before = threading.active_count(), fds()
    proxy = TcpProxy("127.0.0.1", echo.server_address[1]).start()
    clients = [_connect(proxy) for _ in range(5)]
    for c in clients:
        assert _roundtrip(c, b"z") == b"z"
    proxy.blackhole()
    proxy.close()
    proxy.close()  # idempotent
    for c in clients:
        assert _recv_all(c, 5) == b""
        c.close()
    deadline = time.monotonic() + 5  # the echo server's handler threads wind down too
    while (threading.active_count() > threads_before or fds() > fds_before) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert threading.active_count() == threads_before
    assert fds() <= fds_before
    assert not proxy.errors


def test_proxy_restarts_on_same_port(echo_proxy: TcpProxy) -> None:
    port = echo_proxy.port
    echo_proxy.close()
    echo_proxy.start()
    assert echo_proxy.port == port
    with _connect(echo_proxy) as c:
        assert _roundtrip(c, b"again") == b"again"
