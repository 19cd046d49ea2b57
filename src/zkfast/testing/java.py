"""Finding Java and the ZooKeeper server jars, and the JVM flags the harness runs them with.

Order of precedence: ``$ZKFAST_JAVA`` / ``$JAVA_HOME`` / ``$PATH`` for java, and
``$ZKFAST_ZK_CLASSPATH``, ``$ZKFAST_ZK_HOME``, then Debian's /usr/share/java for the jars.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path
from typing import Sequence

from .errors import ZooKeeperNotAvailable

__all__ = ["DEFAULT_JVM_FLAGS", "INSTALL_HINT", "MAIN_CLASS", "find_classpath", "find_java"]

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

MAIN_CLASS = "org.apache.zookeeper.server.quorum.QuorumPeerMain"
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
