"""Real ZooKeeper servers for tests: standalone (optionally TLS/SASL) and N-node ensembles.

Everything binds to 127.0.0.1 only. Each server gets fresh free ports and a fresh
temporary directory (config, data, TLS material, log) that :meth:`ZooKeeperServer.close`
removes. Set ``ZKFAST_KEEP_ZK_DIRS=1`` to keep the directories for post-mortems.
"""

from __future__ import annotations

import ctypes
import datetime
import ipaddress
import os
import re
import shutil
import signal
import socket
import ssl
import struct
import subprocess
import sys
import tempfile
import threading
import time
import weakref
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Iterator, Mapping, Sequence

__all__ = [
    "INSTALL_HINT",
    "ZooKeeperNotAvailable",
    "ZooKeeperStartError",
    "find_java",
    "find_classpath",
    "four_letter",
    "TlsFiles",
    "generate_tls_files",
    "ConnectResponse",
    "raw_connect",
    "expire_session",
    "parse_hosts",
    "ZooKeeperServer",
    "Ensemble",
    "DEFAULT_JVM_FLAGS",
]

HOST = "127.0.0.1"

INSTALL_HINT = (
    "Install it with `apt-get update && apt-get install -y zookeeper` (Debian/Ubuntu; "
    "pulls in Java and puts the jars in /usr/share/java). Alternatively set "
    "ZKFAST_ZK_CLASSPATH to a full Java classpath of the ZooKeeper server jars, or "
    "ZKFAST_ZK_HOME to an unpacked ZooKeeper release, and ZKFAST_JAVA to a java binary."
)

# Kept small: CI is a 2-core box that may run three servers next to the tests.
# Later flags win in the JVM, so user-supplied ``jvm_flags`` (appended) override these.
DEFAULT_JVM_FLAGS: tuple[str, ...] = (
    "-Xmx256m",
    "-XX:+UseSerialGC",  # one GC thread instead of a pool per server
    "-XX:-UsePerfData",  # no hsperfdata mmap files left in /tmp
    "-Djava.net.preferIPv4Stack=true",
    "-Djava.awt.headless=true",
    # Test data is throwaway: skip fsync per transaction (page cache still survives a
    # SIGKILL, so restart-keeps-data tests hold) and don't preallocate 64 MiB txn logs.
    "-Dzookeeper.forceSync=no",
    "-Dzookeeper.preAllocSize=4096",
    # Reap empty containers and expired TTL nodes every second (default: a minute),
    # so tests of those node types finish quickly.
    "-Dznode.container.checkIntervalMs=1000",
    "-Dzookeeper.jmx.log4j.disable=true",
    "-Dorg.slf4j.simpleLogger.showDateTime=true",
    "-Dorg.slf4j.simpleLogger.dateTimeFormat=HH:mm:ss.SSS",
)

_MAIN_CLASS = "org.apache.zookeeper.server.quorum.QuorumPeerMain"
_JAR_DIRS = ("/usr/share/java", "/usr/share/zookeeper/lib", "/usr/lib/zookeeper/lib", "/opt/zookeeper/lib")
# Jars the server cannot start (or serve TLS) without. Order is classpath order.
_REQUIRED_JARS = (
    "zookeeper",
    "zookeeper-jute",
    "slf4j-api",
    "netty-handler",
    "netty-common",
    "netty-buffer",
    "netty-transport",
    "netty-codec",
    "netty-resolver",
    "netty-transport-native-unix-common",
)
_OPTIONAL_JARS = ("netty-transport-native-epoll",)
# One slf4j binding, first found wins; without one the server runs but logs nothing.
_SLF4J_BINDINGS = ("slf4j-simple", "slf4j-jdk14", "slf4j-reload4j", "slf4j-log4j12")


class ZooKeeperNotAvailable(RuntimeError):
    """Java or the ZooKeeper jars are missing; the message says how to install them."""


class ZooKeeperStartError(RuntimeError):
    """A server process was launched but did not become ready (message has the log tail)."""


# --------------------------------------------------------------------------- discovery


def find_java() -> str:
    """Path of the java binary: $ZKFAST_JAVA, $JAVA_HOME/bin/java, or java on $PATH."""
    explicit = os.environ.get("ZKFAST_JAVA")
    if explicit:
        if os.path.isfile(explicit) and os.access(explicit, os.X_OK):
            return explicit
        raise ZooKeeperNotAvailable(f"ZKFAST_JAVA={explicit!r} is not an executable file. {INSTALL_HINT}")
    candidates = []
    if os.environ.get("JAVA_HOME"):
        candidates.append(os.path.join(os.environ["JAVA_HOME"], "bin", "java"))
    which = shutil.which("java")
    if which:
        candidates.append(which)
    candidates.append("/usr/bin/java")
    for c in candidates:
        if os.path.isfile(c) and os.access(c, os.X_OK):
            return c
    raise ZooKeeperNotAvailable(
        f"No java binary found (tried $ZKFAST_JAVA, $JAVA_HOME, $PATH). {INSTALL_HINT}")


def _find_jar(name: str, dirs: Sequence[str]) -> str | None:
    """``name.jar``, else the highest ``name-<version>.jar`` in the first dir that has one."""
    versioned = re.compile(re.escape(name) + r"-\d[\w.\-]*\.jar$")
    for d in dirs:
        plain = os.path.join(d, name + ".jar")
        if os.path.isfile(plain):
            return plain
        try:
            hits = sorted(f for f in os.listdir(d) if versioned.match(f))
        except OSError:
            continue
        if hits:
            return os.path.join(d, hits[-1])
    return None


def find_classpath() -> str:
    """The Java classpath for a ZooKeeper server.

    Order of precedence: ``$ZKFAST_ZK_CLASSPATH`` (used verbatim, entries checked),
    ``$ZKFAST_ZK_HOME`` (an unpacked release: every jar in it and its ``lib/``), then
    the Debian layout in /usr/share/java. Raises :class:`ZooKeeperNotAvailable`.
    """
    explicit = os.environ.get("ZKFAST_ZK_CLASSPATH")
    if explicit:
        missing = [
            e for e in explicit.split(os.pathsep) if e and not e.endswith("*") and not os.path.exists(e)
        ]
        if missing:
            raise ZooKeeperNotAvailable(f"ZKFAST_ZK_CLASSPATH names missing files: {missing}. {INSTALL_HINT}")
        return explicit

    home = os.environ.get("ZKFAST_ZK_HOME")
    if home:
        jars = sorted(str(p) for d in (Path(home), Path(home) / "lib") for p in d.glob("*.jar"))
        if not any(Path(j).name.startswith("zookeeper") for j in jars):
            raise ZooKeeperNotAvailable(f"ZKFAST_ZK_HOME={home!r} holds no zookeeper*.jar. {INSTALL_HINT}")
        return os.pathsep.join(jars)

    found: list[str] = []
    missing = []
    for name in _REQUIRED_JARS:
        jar = _find_jar(name, _JAR_DIRS)
        if jar is None:
            missing.append(name + ".jar")
        else:
            found.append(jar)
    if missing:
        raise ZooKeeperNotAvailable(
            f"ZooKeeper server jars not found in {', '.join(_JAR_DIRS)} (missing: {', '.join(missing)}). "
            f"{INSTALL_HINT}"
        )
    for name in _OPTIONAL_JARS:
        jar = _find_jar(name, _JAR_DIRS)
        if jar:
            found.append(jar)
    for name in _SLF4J_BINDINGS:
        jar = _find_jar(name, _JAR_DIRS)
        if jar:
            found.append(jar)
            if name == "slf4j-log4j12":
                log4j = _find_jar("log4j-1.2", _JAR_DIRS)
                if log4j:
                    found.append(log4j)
            break
    return os.pathsep.join(found)


# --------------------------------------------------------------------------- ports


_port_lock = threading.Lock()
_ports_handed_out: set[int] = set()


def _free_ports(n: int) -> list[int]:
    """n distinct free loopback ports, never handed out twice by this process.

    All sockets stay bound until every port is picked so the kernel cannot repeat one;
    remembering them keeps two harness objects in one process from colliding after close.
    """
    socks: list[socket.socket] = []
    ports: list[int] = []
    try:
        with _port_lock:
            while len(ports) < n:
                s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                socks.append(s)
                s.bind((HOST, 0))
                p = s.getsockname()[1]
                if p not in _ports_handed_out:
                    _ports_handed_out.add(p)
                    ports.append(p)
    finally:
        for s in socks:
            s.close()
    return ports


# --------------------------------------------------------------------------- four letter words


def four_letter(
    host: str, port: int, cmd: str, timeout: float = 5.0, ssl_context: ssl.SSLContext | None = None
) -> str:
    """Send a four-letter word and return the whole reply (the server closes after it)."""
    if len(cmd) != 4:
        raise ValueError(f"four-letter words have four letters, got {cmd!r}")
    deadline = time.monotonic() + timeout
    sock = socket.create_connection((host, port), timeout=timeout)
    try:
        if ssl_context is not None:
            sock = ssl_context.wrap_socket(sock, server_hostname=host)
        sock.sendall(cmd.encode("ascii"))
        chunks = []
        while True:
            sock.settimeout(max(0.01, deadline - time.monotonic()))
            try:
                data = sock.recv(65536)
            except ssl.SSLZeroReturnError:
                break
            if not data:
                break
            chunks.append(data)
        return b"".join(chunks).decode("utf-8", "replace")
    finally:
        sock.close()


def _srvr_mode(text: str) -> str | None:
    m = re.search(r"^Mode: (\S+)", text, re.MULTILINE)
    return m.group(1) if m else None


# --------------------------------------------------------------------------- TLS material


@dataclass(frozen=True)
class TlsFiles:
    """PEM files for a test PKI: one CA signing a server cert (127.0.0.1/localhost) and a client cert."""

    ca_file: str  # CA certificate; clients verify the server with it, the server trusts clients by it
    ca_key_file: str
    server_cert_file: str
    server_key_file: str
    server_keystore: str  # key + cert in one PEM, what ZooKeeper's ssl.keyStore.type=PEM reads
    client_cert_file: str
    client_key_file: str


def generate_tls_files(directory: str | os.PathLike[str]) -> TlsFiles:
    """Write a fresh CA, server and client key/cert pair (PEM, unencrypted PKCS#8 keys).

    Uses the ``cryptography`` package when importable, else the ``openssl`` command.
    """
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    files = TlsFiles(
        ca_file=str(d / "ca.pem"),
        ca_key_file=str(d / "ca.key"),
        server_cert_file=str(d / "server.pem"),
        server_key_file=str(d / "server.key"),
        server_keystore=str(d / "server-keystore.pem"),
        client_cert_file=str(d / "client.pem"),
        client_key_file=str(d / "client.key"),
    )
    try:
        import cryptography  # noqa: F401
    except ImportError:
        _generate_tls_openssl(files, d)
    else:
        _generate_tls_cryptography(files)
    Path(files.server_keystore).write_bytes(
        Path(files.server_key_file).read_bytes() + Path(files.server_cert_file).read_bytes()
    )
    return files


def _generate_tls_cryptography(files: TlsFiles) -> None:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = datetime.datetime.now(datetime.timezone.utc)
    start, end = now - datetime.timedelta(days=1), now + datetime.timedelta(days=3650)

    def new_key() -> rsa.RSAPrivateKey:
        # RSA rather than EC: every JDK's PEM key loader in ZooKeeper handles it.
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)

    def name(cn: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])

    def write_key(key: rsa.RSAPrivateKey, path: str) -> None:
        Path(path).write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )

    ca_key = new_key()
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(name("zkfast test CA"))
        .issuer_name(name("zkfast test CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True, content_commitment=False, key_encipherment=False,
                data_encipherment=False, key_agreement=False, key_cert_sign=True, crl_sign=True,
                encipher_only=False, decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )

    def leaf(cn: str, san: list[x509.GeneralName] | None, eku: list[x509.ObjectIdentifier], key_path: str,
             cert_path: str) -> None:
        key = new_key()
        b = (
            x509.CertificateBuilder()
            .subject_name(name(cn))
            .issuer_name(ca_cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(start)
            .not_valid_after(end)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage(eku), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
                           critical=False)
        )
        if san:
            b = b.add_extension(x509.SubjectAlternativeName(san), critical=False)
        write_key(key, key_path)
        Path(cert_path).write_bytes(b.sign(ca_key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM))

    write_key(ca_key, files.ca_key_file)
    Path(files.ca_file).write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    leaf(
        "localhost",
        [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address(HOST))],
        [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH],
        files.server_key_file,
        files.server_cert_file,
    )
    leaf("zkfast-test-client", None, [ExtendedKeyUsageOID.CLIENT_AUTH], files.client_key_file,
         files.client_cert_file)


def _generate_tls_openssl(files: TlsFiles, d: Path) -> None:
    openssl = shutil.which("openssl")
    if openssl is None:
        raise ZooKeeperNotAvailable(
            "TLS test certificates need the `cryptography` package or the `openssl` command "
            "(apt-get install -y openssl)."
        )

    def run(*args: str) -> None:
        r = subprocess.run([openssl, *args], cwd=d, capture_output=True, text=True)
        if r.returncode != 0:
            raise RuntimeError(f"openssl {' '.join(args)} failed: {r.stderr.strip()}")

    def serial() -> str:
        return "0x" + os.urandom(12).hex()

    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", files.ca_key_file, "-out", files.ca_file,
        "-days", "3650", "-subj", "/CN=zkfast test CA", "-set_serial", serial(),
        "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    for cn, key, cert, ext in (
        ("localhost", files.server_key_file, files.server_cert_file,
         "basicConstraints=critical,CA:FALSE\nextendedKeyUsage=serverAuth,clientAuth\n"
         f"subjectAltName=DNS:localhost,IP:{HOST}\n"),
        ("zkfast-test-client", files.client_key_file, files.client_cert_file,
         "basicConstraints=critical,CA:FALSE\nextendedKeyUsage=clientAuth\n"),
    ):
        csr, extfile = str(d / (cn + ".csr")), str(d / (cn + ".ext"))
        Path(extfile).write_text(ext)
        run("req", "-new", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", csr, "-subj", f"/CN={cn}")
        run("x509", "-req", "-in", csr, "-CA", files.ca_file, "-CAkey", files.ca_key_file, "-set_serial",
            serial(), "-days", "3650", "-sha256", "-extfile", extfile, "-out", cert)
        os.unlink(csr)
        os.unlink(extfile)


# --------------------------------------------------------------------------- raw sessions


@dataclass(frozen=True)
class ConnectResponse:
    """A decoded ConnectResponse. ``timeout <= 0`` means the session is expired/invalid."""

    protocol_version: int
    timeout: int
    session_id: int
    password: bytes
    read_only: bool | None  # None when the server omitted the flag


def _recv_exact(sock: socket.socket, n: int) -> bytes:
    buf = bytearray()
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise ConnectionError(f"connection closed after {len(buf)} of {n} bytes")
        buf += chunk
    return bytes(buf)


def _recv_frame(sock: socket.socket) -> bytes:
    (length,) = struct.unpack(">i", _recv_exact(sock, 4))
    if length < 0 or length > 0x7FFFFFF:
        raise ConnectionError(f"bad frame length {length}")
    return _recv_exact(sock, length)


def _connect_request(session_id: int, password: bytes, timeout_ms: int, read_only: bool,
                     last_zxid: int) -> bytes:
    # ConnectRequest: protocolVersion int, lastZxidSeen long, timeOut int, sessionId long,
    # passwd buffer, readOnly bool; framed by a 4-byte length.
    body = (
        struct.pack(">iqiqi", 0, last_zxid, timeout_ms, session_id, len(password))
        + password
        + struct.pack(">?", read_only)
    )
    return struct.pack(">i", len(body)) + body


def _parse_connect_response(body: bytes) -> ConnectResponse:
    version, timeout, session_id, plen = struct.unpack_from(">iiqi", body, 0)
    pos = 20
    password = body[pos:pos + max(plen, 0)]
    pos += max(plen, 0)
    read_only = bool(body[pos]) if len(body) > pos else None
    return ConnectResponse(version, timeout, session_id, password, read_only)


def raw_connect(
    host: str,
    port: int,
    *,
    session_id: int = 0,
    password: bytes = b"\0" * 16,
    timeout_ms: int = 30000,
    read_only: bool = False,
    last_zxid: int = 0,
    socket_timeout: float = 10.0,
    ssl_context: ssl.SSLContext | None = None,
) -> tuple[socket.socket, ConnectResponse]:
    """Open a session (or resume one) with a hand-written ConnectRequest.

    A test tool, independent of the zkfast codec. Returns the connected socket (blocking,
    ``socket_timeout`` set) and the decoded response; the caller closes the socket.
    """
    sock = socket.create_connection((host, port), timeout=socket_timeout)
    try:
        if ssl_context is not None:
            sock = ssl_context.wrap_socket(sock, server_hostname=host)
        sock.sendall(_connect_request(session_id, password, timeout_ms, read_only, last_zxid))
        return sock, _parse_connect_response(_recv_frame(sock))
    except BaseException:
        sock.close()
        raise


def parse_hosts(hosts: str) -> list[tuple[str, int]]:
    """``"h1:p1,h2:p2/chroot"`` -> [(h1, p1), (h2, p2)] (default port 2181, IPv6 in brackets)."""
    hosts = hosts.split("/", 1)[0]
    out = []
    for item in hosts.split(","):
        item = item.strip()
        if not item:
            continue
        if item.startswith("["):
            host, _, rest = item[1:].partition("]")
            port = int(rest[1:]) if rest.startswith(":") else 2181
        elif item.count(":") == 1:
            host, p = item.split(":")
            port = int(p)
        else:
            host, port = item, 2181
        out.append((host, port))
    if not out:
        raise ValueError(f"no hosts in {hosts!r}")
    return out


def _session_valid(host: str, port: int, session_id: int, password: bytes, timeout: float) -> bool:
    sock, resp = raw_connect(host, port, session_id=session_id, password=password, socket_timeout=timeout)
    sock.close()
    return resp.timeout > 0


def expire_session(hosts: str, session_id: int, password: bytes, timeout: float = 10.0) -> bool:
    """Expire a live session the way ZooKeeper would: attach to it from a second
    connection (same id + password) and close it there with closeSession (opcode -11).

    The server drops the owner's connection, deletes its ephemerals and fires its watches;
    the owner's next reconnect gets a ConnectResponse with timeOut 0. Returns True once a
    fresh connect confirms the session is gone, False when the server already reported it
    invalid (expired, or wrong password). Raises ConnectionError if no host manages it.
    """
    deadline = time.monotonic() + timeout
    errors = []
    for host, port in parse_hosts(hosts):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            break
        try:
            sock, resp = raw_connect(host, port, session_id=session_id, password=password,
                                     timeout_ms=max(int(timeout * 1000), 4000), socket_timeout=remaining)
        except OSError as e:
            errors.append(f"{host}:{port}: {e}")
            continue
        err = None
        with sock:
            if resp.timeout <= 0:
                return False
            try:
                sock.settimeout(max(0.1, deadline - time.monotonic()))
                sock.sendall(struct.pack(">iii", 8, 1, -11))  # header only: xid 1, closeSession
                while err is None:  # skip anything that isn't our reply (e.g. a notification)
                    xid, _zxid, code = struct.unpack_from(">iqi", _recv_frame(sock))
                    if xid == 1:
                        err = code
                # The server closes the connection once the close is committed.
                while sock.recv(4096):
                    pass
            except OSError:
                pass  # EOF/reset/timeout: whether the close applied is checked below
        if err not in (None, 0):
            raise RuntimeError(f"closeSession for 0x{session_id:x} failed with error {err}")
        # Verify with a fresh connect. That probe can meet a spurious close when the
        # session's owner reconnects at the same moment: try it a few times.
        for attempt in range(5):
            try:
                if not _session_valid(host, port, session_id, password,
                                      max(0.5, deadline - time.monotonic())):
                    return True
                errors.append(f"{host}:{port}: session still valid after closeSession")
                break
            except OSError as e:
                if attempt == 4 or time.monotonic() > deadline:
                    errors.append(f"{host}:{port}: verifying: {e}")
                    break
                time.sleep(0.05)
    raise ConnectionError(f"could not expire session 0x{session_id:x} via {hosts!r}: {'; '.join(errors)}")


# --------------------------------------------------------------------------- server process


_OWNER_FILE = "zkfast-owner.pid"
_swept = False


def _sweep_stale_dirs() -> None:
    """Remove server dirs left by test processes that died without cleaning up (once per
    process). A dir is stale when the pid recorded in it no longer exists."""
    global _swept
    if _swept or _keep_dirs():
        return
    _swept = True
    for d in Path(tempfile.gettempdir()).glob("zkfast-zk-*"):
        try:
            pid = int((d / _OWNER_FILE).read_text())
        except (OSError, ValueError):
            continue
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            shutil.rmtree(d, ignore_errors=True)
        except OSError:
            pass  # alive (or not ours to signal): leave it


def _keep_dirs() -> bool:
    return os.environ.get("ZKFAST_KEEP_ZK_DIRS", "") not in ("", "0", "false", "no")


@dataclass
class _ProcState:
    """What the finalizer needs: no reference back to the server object."""

    workdir: str
    proc: subprocess.Popen[bytes] | None = None
    closed: bool = False


def _finalize(state: _ProcState) -> None:
    """Last-resort cleanup at GC or interpreter exit: never leave a JVM running."""
    if state.proc is not None and state.proc.poll() is None:
        state.proc.kill()
        try:
            state.proc.wait(10)
        except subprocess.TimeoutExpired:
            pass
    state.proc = None
    if not state.closed:
        state.closed = True
        if not _keep_dirs():
            shutil.rmtree(state.workdir, ignore_errors=True)


def _death_signal_preexec() -> Callable[[], None] | None:
    """A preexec_fn asking Linux to SIGKILL the JVM if this process dies (even by SIGKILL).

    Only used when spawning from the main thread: the signal fires when the *spawning
    thread* exits, which for a worker thread would kill a server that is still wanted.
    """
    if not sys.platform.startswith("linux") or threading.current_thread() is not threading.main_thread():
        return None
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl  # resolved here: the child must not import
    except (OSError, AttributeError):
        return None
    pr_set_pdeathsig, sigkill = 1, int(signal.SIGKILL)

    def preexec() -> None:
        prctl(pr_set_pdeathsig, sigkill, 0, 0, 0)

    return preexec


def _tail(path: str, lines: int = 60) -> str:
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - 256 * 1024))
            data = f.read().decode("utf-8", "replace")
    except OSError as e:
        return f"<no log: {e}>"
    return "\n".join(data.splitlines()[-lines:])


def _cfg_value(v: object) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


_SASL_USER = re.compile(r"^[A-Za-z0-9_.\-]+$")


@dataclass
class _PeerSpec:
    """Ensemble membership of one server."""

    myid: int
    server_lines: list[str]
    read_only: bool = False
    quorum_ports: tuple[int, int] = (0, 0)


class ZooKeeperServer:
    """One ZooKeeper server process on 127.0.0.1 (standalone unless made by :class:`Ensemble`).

    >>> with ZooKeeperServer() as zk:
    ...     client = Client(zk.hosts)

    ``tls=True`` adds a Netty secure client port (``secure_port``/``secure_hosts``) next to
    the plain one, with a fresh test CA (``ca_file``) and a client cert/key for mutual TLS
    (``client_cert_file``/``client_key_file``); ``tls_client_auth`` is ZooKeeper's
    ``ssl.clientAuth``: "none", "want" or "need". ``sasl_users`` ({user: password}) enables
    SASL DIGEST-MD5 with a JAAS ``Server`` section. ``extra_config`` entries override the
    generated zoo.cfg lines; ``jvm_flags`` are appended after :data:`DEFAULT_JVM_FLAGS`.
    """

    host: str = HOST

    def __init__(
        self,
        *,
        tls: bool = False,
        tls_client_auth: str = "none",
        sasl_users: Mapping[str, str] | None = None,
        read_only: bool = False,
        tick_time: int = 2000,
        min_session_timeout: int | None = None,
        max_session_timeout: int | None = None,
        extra_config: Mapping[str, object] | None = None,
        jvm_flags: Sequence[str] | None = None,
        _peer: _PeerSpec | None = None,
        _port: int | None = None,
    ) -> None:
        if tls_client_auth not in ("none", "want", "need"):
            raise ValueError("tls_client_auth must be 'none', 'want' or 'need'")
        for user, pw in (sasl_users or {}).items():
            if not _SASL_USER.match(user):
                raise ValueError(f"SASL user names must match {_SASL_USER.pattern}: {user!r}")
            if any(c in pw for c in '"\\\n\r'):
                raise ValueError("SASL passwords must not contain quotes, backslashes or newlines")
        # Fail early and clearly when ZooKeeper isn't installed.
        self.java = find_java()
        self.classpath = find_classpath()

        self.tls = tls
        self.tls_client_auth = tls_client_auth
        self.sasl_users = dict(sasl_users or {})
        self.read_only = read_only or bool(_peer and _peer.read_only)
        self.tick_time = int(tick_time)
        self.min_session_timeout = min_session_timeout
        self.max_session_timeout = max_session_timeout
        self.extra_config = dict(extra_config or {})
        self.jvm_flags = list(jvm_flags or ())
        self._peer = _peer

        _sweep_stale_dirs()
        self.workdir = tempfile.mkdtemp(prefix="zkfast-zk-")
        Path(self.workdir, _OWNER_FILE).write_text(str(os.getpid()))
        self._state = _ProcState(self.workdir)
        self._finalizer = weakref.finalize(self, _finalize, self._state)
        self.data_dir = os.path.join(self.workdir, "data")
        self.config_path = os.path.join(self.workdir, "zoo.cfg")
        self.log_path = os.path.join(self.workdir, "zookeeper.log")
        self.jaas_path: str | None = None
        self.tls_files: TlsFiles | None = None
        os.makedirs(self.data_dir)

        ports = _free_ports(2 if tls else 1)
        self.port: int = _port if _port is not None else ports[0]
        self.secure_port: int | None = ports[-1] if tls else None
        self._ports_locked = _port is not None  # ensemble members: ports are in peers' configs
        self.startup_seconds: float | None = None  # wall time of the last successful start()
        self._starts = 0

        if tls:
            self.tls_files = generate_tls_files(os.path.join(self.workdir, "tls"))
        if self.sasl_users:
            self.jaas_path = os.path.join(self.workdir, "jaas.conf")
            users = "".join(f'\n    user_{u}="{p}"' for u, p in self.sasl_users.items())
            Path(self.jaas_path).write_text(
                f"Server {{\n    org.apache.zookeeper.server.auth.DigestLoginModule required{users};\n}};\n"
            )
        if _peer is not None:
            Path(self.data_dir, "myid").write_text(f"{_peer.myid}\n")
        self._write_config()

    # -- addresses -----------------------------------------------------------------------

    @property
    def hosts(self) -> str:
        """Connect string of the plain client port."""
        return f"{HOST}:{self.port}"

    @property
    def secure_hosts(self) -> str:
        if self.secure_port is None:
            raise AttributeError("secure_hosts: server was not created with tls=True")
        return f"{HOST}:{self.secure_port}"

    @property
    def ca_file(self) -> str:
        """PEM CA certificate that verifies the server's certificate (tls=True only)."""
        return self._tls().ca_file

    @property
    def client_cert_file(self) -> str:
        return self._tls().client_cert_file

    @property
    def client_key_file(self) -> str:
        return self._tls().client_key_file

    def _tls(self) -> TlsFiles:
        if self.tls_files is None:
            raise AttributeError("server was not created with tls=True")
        return self.tls_files

    def ssl_context(self, client_cert: bool | None = None) -> ssl.SSLContext:
        """A client SSLContext trusting this server; presents the client cert when
        ``client_cert`` is true (default: when tls_client_auth is not "none")."""
        files = self._tls()
        ctx = ssl.create_default_context(cafile=files.ca_file)
        if client_cert is None:
            client_cert = self.tls_client_auth != "none"
        if client_cert:
            ctx.load_cert_chain(files.client_cert_file, files.client_key_file)
        return ctx

    @property
    def pid(self) -> int | None:
        return self._state.proc.pid if self.running and self._state.proc else None

    @property
    def running(self) -> bool:
        """True while the server process is alive (serving or not)."""
        return self._state.proc is not None and self._state.proc.poll() is None

    # -- config --------------------------------------------------------------------------

    def _config(self) -> dict[str, str]:
        cfg: dict[str, object] = {
            "tickTime": self.tick_time,
            "dataDir": self.data_dir,
            "clientPort": self.port,
            "clientPortAddress": HOST,
            "4lw.commands.whitelist": "*",
            "extendedTypesEnabled": True,
            "admin.enableServer": False,
            "maxClientCnxns": 0,
        }
        if self.min_session_timeout is not None:
            cfg["minSessionTimeout"] = int(self.min_session_timeout)
        if self.max_session_timeout is not None:
            cfg["maxSessionTimeout"] = int(self.max_session_timeout)
        if self.tls:
            files = self._tls()
            cfg.update({
                "serverCnxnFactory": "org.apache.zookeeper.server.NettyServerCnxnFactory",
                "secureClientPort": self.secure_port,
                "secureClientPortAddress": HOST,
                # PEM stores (ZooKeeper >= 3.5.5) avoid keytool round trips.
                "ssl.keyStore.location": files.server_keystore,
                "ssl.keyStore.type": "PEM",
                "ssl.trustStore.location": files.ca_file,
                "ssl.trustStore.type": "PEM",
                "ssl.clientAuth": self.tls_client_auth,
            })
        if self.sasl_users:
            cfg["authProvider.1"] = "org.apache.zookeeper.server.auth.SASLAuthenticationProvider"
        if self._peer is not None:
            cfg.update({"initLimit": 10, "syncLimit": 5})
            if self._peer.read_only:
                # Without localSessionsEnabled a read-only survivor answers a bare -119 header.
                cfg.update({"localSessionsEnabled": True, "localSessionsUpgradingEnabled": True})
        cfg.update(self.extra_config)
        lines = [f"{k}={_cfg_value(v)}" for k, v in cfg.items()]
        if self._peer is not None:
            lines += self._peer.server_lines
        return dict(line.split("=", 1) for line in lines)

    def _write_config(self) -> None:
        Path(self.config_path).write_text("".join(f"{k}={v}\n" for k, v in self._config().items()))

    def _command(self) -> list[str]:
        flags = list(DEFAULT_JVM_FLAGS)
        if self.read_only:
            flags.append("-Dreadonlymode.enabled=true")  # a system property, not a zoo.cfg line
        if self.jaas_path:
            flags.append(f"-Djava.security.auth.login.config={self.jaas_path}")
        flags += self.jvm_flags
        return [self.java, *flags, "-cp", self.classpath, _MAIN_CLASS, self.config_path]

    # -- lifecycle -----------------------------------------------------------------------

    def start(self, timeout: float = 30.0, *, wait: bool = True) -> ZooKeeperServer:
        """Launch the JVM and (with ``wait``) block until the server serves clients.

        Ready means ``ruok`` answers ``imok`` *and* ``srvr`` reports a Mode (``imok`` comes
        ~0.1 s before the server accepts sessions), plus ``ruok`` over TLS on the secure port
        when tls=True (it binds after the plain one). A first start whose ports were taken
        meanwhile retries on new ports.
        """
        if self._state.closed:
            raise RuntimeError("server is closed")
        if self.running:
            if wait:
                self.wait_serving(timeout)
            return self
        attempts = 1 if self._ports_locked else 3
        for attempt in range(attempts):
            t0 = time.monotonic()
            self._launch()
            if not wait:
                return self
            try:
                self.wait_serving(timeout)
            except ZooKeeperStartError:
                if attempt + 1 < attempts and self._bind_failed():
                    self.kill()
                    ports = _free_ports(2 if self.tls else 1)
                    self.port, self.secure_port = ports[0], (ports[-1] if self.tls else None)
                    self._write_config()
                    continue
                raise
            self.startup_seconds = time.monotonic() - t0
            self._ports_locked = True  # restarts must keep the ports clients know
            return self
        raise AssertionError("unreachable")

    def _launch(self) -> None:
        self._starts += 1
        with open(self.log_path, "ab") as log:
            stamp = datetime.datetime.now().strftime("%H:%M:%S.%f")[:-3]
            log.write(f"==== zkfast: start #{self._starts} at {stamp}: "
                      f"{' '.join(self._command())}\n".encode())
            log.flush()
            self._state.proc = subprocess.Popen(
                self._command(),
                cwd=self.workdir,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # Ctrl-C goes to pytest, which then closes us cleanly
                preexec_fn=_death_signal_preexec(),
            )

    def _bind_failed(self) -> bool:
        return bool(re.search(r"BindException|Address already in use", _tail(self.log_path, 200)))

    def is_serving(self, accept_read_only: bool | None = None, probe_timeout: float = 2.0) -> bool:
        """One readiness probe (see :meth:`start`). Read-only mode counts as serving when
        ``accept_read_only`` (default: when the server has read-only mode enabled)."""
        if accept_read_only is None:
            accept_read_only = self.read_only
        try:
            if self.four_letter("ruok", probe_timeout) != "imok":
                return False
            mode = _srvr_mode(self.four_letter("srvr", probe_timeout))
            if mode is None or (mode == "read-only" and not accept_read_only):
                return False
            if self.tls:
                return self.four_letter("ruok", probe_timeout, secure=True) == "imok"
            return True
        except (OSError, ssl.SSLError):
            return False

    def wait_serving(self, timeout: float = 30.0, accept_read_only: bool | None = None) -> None:
        """Block until :meth:`is_serving`; raise ZooKeeperStartError (with log tail) if the
        process dies or the deadline passes."""
        deadline = time.monotonic() + timeout
        while True:
            proc = self._state.proc
            if proc is None or proc.poll() is not None:
                rc = None if proc is None else proc.returncode
                raise ZooKeeperStartError(
                    f"ZooKeeper on {self.hosts} is not running (exit code {rc}); log {self.log_path}:\n"
                    f"{_tail(self.log_path)}"
                )
            # A short probe timeout: a connection that lands in the instant between
            # the server binding its port and loading its database is never answered
            # nor closed (ZOOKEEPER-5051); the next probe gets through.
            if self.is_serving(accept_read_only, probe_timeout=1.0):
                return
            if time.monotonic() >= deadline:
                raise ZooKeeperStartError(
                    f"ZooKeeper on {self.hosts} not serving after {timeout:.0f}s; log {self.log_path}:\n"
                    f"{_tail(self.log_path)}"
                )
            time.sleep(0.05)

    def stop(self, timeout: float = 15.0) -> None:
        """SIGTERM and wait (SIGKILL if it lingers). Keeps ports and data for :meth:`start`."""
        proc = self._state.proc
        if proc is None:
            return
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self._state.proc = None

    def kill(self) -> None:
        """SIGKILL: a crash. No session close, no clean shutdown."""
        proc = self._state.proc
        if proc is None:
            return
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        self._state.proc = None

    def restart(self, timeout: float = 30.0, *, kill: bool = False, wait: bool = True) -> ZooKeeperServer:
        """Stop (or kill) and start again with the same ports and data directory."""
        self.kill() if kill else self.stop()
        return self.start(timeout, wait=wait)

    def close(self) -> None:
        """Kill the server and remove its temporary directory. Idempotent.

        SIGKILL rather than SIGTERM: the data is deleted anyway, and a clean JVM shutdown
        costs ~0.35 s per server at the end of every test session.
        """
        self.kill()
        self._finalizer()

    def __enter__(self) -> ZooKeeperServer:
        if not self.running:
            try:
                self.start()
            except BaseException:
                self.close()
                raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "running" if self.running else ("closed" if self._state.closed else "stopped")
        return f"<ZooKeeperServer {self.hosts} {state}>"

    # -- introspection -------------------------------------------------------------------

    def four_letter(self, cmd: str, timeout: float = 5.0, *, secure: bool = False) -> str:
        """Run a four-letter word (on the TLS port when ``secure``) and return its reply."""
        if secure:
            if self.secure_port is None:
                raise ValueError("secure=True needs a server created with tls=True")
            return four_letter(HOST, self.secure_port, cmd, timeout, self.ssl_context(client_cert=True))
        return four_letter(HOST, self.port, cmd, timeout)

    def mode(self, timeout: float = 2.0) -> str | None:
        """``srvr``'s Mode ("standalone", "leader", "follower", "read-only"...) or None when
        the server is down or not serving."""
        try:
            return _srvr_mode(self.four_letter("srvr", timeout))
        except OSError:
            return None

    def log_tail(self, lines: int = 60) -> str:
        return _tail(self.log_path, lines)


# --------------------------------------------------------------------------- ensemble


class Ensemble:
    """n ZooKeeper servers on 127.0.0.1 forming one quorum.

    ``servers[i]`` are :class:`ZooKeeperServer` objects (myid i+1); kill/stop/restart them
    directly or through the index-taking methods here. ``read_only=True`` enables
    read-only mode (JVM flag plus local sessions) so a partitioned member keeps serving reads.
    """

    def __init__(
        self,
        n: int = 3,
        *,
        read_only: bool = False,
        tick_time: int = 2000,
        min_session_timeout: int | None = None,
        max_session_timeout: int | None = None,
        extra_config: Mapping[str, object] | None = None,
        jvm_flags: Sequence[str] | None = None,
    ) -> None:
        if n < 1:
            raise ValueError("an ensemble needs at least one server")
        self.n = n
        self.read_only = read_only
        self._member_args = dict(
            tick_time=tick_time,
            min_session_timeout=min_session_timeout,
            max_session_timeout=max_session_timeout,
            extra_config=extra_config,
            jvm_flags=jvm_flags,
        )
        self.servers: list[ZooKeeperServer] = []
        self._build()

    def _build(self) -> None:
        for s in self.servers:
            s.close()
        ports = _free_ports(3 * self.n)
        client, quorum, election = ports[: self.n], ports[self.n: 2 * self.n], ports[2 * self.n:]
        lines = [f"server.{i + 1}={HOST}:{quorum[i]}:{election[i]}" for i in range(self.n)]
        servers: list[ZooKeeperServer] = []
        try:
            for i in range(self.n):
                spec = _PeerSpec(i + 1, lines, self.read_only, (quorum[i], election[i]))
                # (_member_args: ZooKeeperServer keyword arguments, typed loosely as a dict of objects)
                servers.append(ZooKeeperServer(_peer=spec, _port=client[i], **self._member_args))  # type: ignore[arg-type]
        except BaseException:
            for s in servers:
                s.close()
            raise
        self.servers = servers

    @property
    def hosts(self) -> str:
        """Connect string naming every member."""
        return ",".join(s.hosts for s in self.servers)

    def __len__(self) -> int:
        return self.n

    def __iter__(self) -> Iterator[ZooKeeperServer]:
        return iter(self.servers)

    def __getitem__(self, i: int) -> ZooKeeperServer:
        return self.servers[i]

    # -- lifecycle -----------------------------------------------------------------------

    def start(self, i: int | None = None, *, timeout: float = 60.0, wait: bool = True) -> Ensemble:
        """Start member ``i`` (waiting until it serves), or with no index start every member
        and wait until all serve and exactly one is leader. A fresh ensemble whose ports got
        taken meanwhile is rebuilt on new ports (up to 3 tries)."""
        if i is not None:
            self.servers[i].start(timeout, wait=wait)
            return self
        fresh = all(s._starts == 0 for s in self.servers)
        attempts = 3 if fresh else 1
        for attempt in range(attempts):
            for s in self.servers:
                if not s.running:
                    s.start(wait=False)
            if not wait:
                return self
            try:
                self.wait_for_quorum(timeout, need_all=True)
                for s in self.servers:
                    s._ports_locked = True
                return self
            except ZooKeeperStartError:
                if attempt + 1 < attempts and any(s._bind_failed() for s in self.servers):
                    self._build()
                    continue
                raise
        raise AssertionError("unreachable")

    def wait_for_quorum(self, timeout: float = 60.0, *, need_all: bool = False) -> int:
        """Wait until a leader exists and every running member (``need_all``: every member)
        is leader or follower. Returns the leader's index."""
        deadline = time.monotonic() + timeout
        while True:
            for idx, s in enumerate(self.servers):
                if s._starts and not s.running and need_all:
                    raise ZooKeeperStartError(
                        f"ensemble member {idx} ({s.hosts}) exited; log {s.log_path}:\n{s.log_tail()}"
                    )
            modes = [s.mode(1.0) if s.running else None for s in self.servers]
            members = [m for s, m in zip(self.servers, modes) if s.running or need_all]
            if (
                modes.count("leader") == 1
                and members
                and all(m in ("leader", "follower", "observer") for m in members)
            ):
                return modes.index("leader")
            if time.monotonic() >= deadline:
                details = "\n".join(
                    f"--- member {idx} {s.hosts} running={s.running} mode={m} log {s.log_path}:\n"
                    f"{s.log_tail(25)}"
                    for idx, (s, m) in enumerate(zip(self.servers, modes))
                )
                raise ZooKeeperStartError(
                    f"ensemble has no quorum after {timeout:.0f}s (modes {modes})\n{details}")
            time.sleep(0.1)

    def stop(self, i: int | None = None) -> None:
        """SIGTERM member ``i``, or every member (in parallel)."""
        members = list(self._select(i))
        for s in members:
            if s.running and s._state.proc is not None:
                s._state.proc.terminate()  # signal all first: shutdowns overlap
        for s in members:
            s.stop()

    def kill(self, i: int) -> None:
        """SIGKILL member ``i``."""
        self.servers[i].kill()

    def restart(self, i: int | None = None, *, timeout: float = 60.0, kill: bool = False) -> Ensemble:
        """Restart member ``i`` (waiting until it serves), or the whole ensemble."""
        if kill:
            for s in self._select(i):
                s.kill()
        else:
            self.stop(i)
        return self.start(i, timeout=timeout)

    def leader(self, timeout: float = 10.0) -> int:
        """Index of the member that reports ``Mode: leader`` (waits up to ``timeout``)."""
        deadline = time.monotonic() + timeout
        while True:
            for idx, s in enumerate(self.servers):
                if s.running and s.mode(1.0) == "leader":
                    return idx
            if time.monotonic() >= deadline:
                raise TimeoutError(f"no leader among {self.hosts} after {timeout}s")
            time.sleep(0.1)

    def kill_leader(self) -> int:
        """SIGKILL the current leader; returns its index."""
        idx = self.leader()
        self.kill(idx)
        return idx

    def kill_majority(self, keep: int | None = None) -> list[int]:
        """SIGKILL n//2 + 1 members (never ``keep``; the leader first) so no quorum is left.
        Returns the killed indices."""
        count = self.n // 2 + 1
        order = list(range(self.n))
        try:
            lead = self.leader(timeout=2.0)
            order.remove(lead)
            order.insert(0, lead)
        except TimeoutError:
            pass
        if keep is not None:
            order.remove(keep)
        victims = order[:count]
        for idx in victims:
            self.kill(idx)
        return victims

    def ensure_running(self, timeout: float = 60.0) -> None:
        """Start every member that is down and wait for a full quorum (used between tests)."""
        if all(s.running for s in self.servers) and self._quick_ok():
            return
        for s in self.servers:
            if not s.running:
                s.start(wait=False)
        self.wait_for_quorum(timeout, need_all=True)

    def _quick_ok(self) -> bool:
        modes = [s.mode(1.0) for s in self.servers]
        return modes.count("leader") == 1 and all(m in ("leader", "follower", "observer") for m in modes)

    def _select(self, i: int | None) -> Iterable[ZooKeeperServer]:
        return self.servers if i is None else [self.servers[i]]

    def close(self) -> None:
        """Kill every member and remove their directories. Idempotent."""
        for s in self.servers:
            s.close()

    def __enter__(self) -> Ensemble:
        try:
            self.start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<Ensemble {self.hosts} running={[s.running for s in self.servers]}>"
