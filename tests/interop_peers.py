"""Other ZooKeeper clients as contenders next to zkfast's recipes.

The peers are small programs in ``tests/peers/``: ``CuratorPeer.java`` (Curator
5.4 recipes, Debian's ``libcurator-recipes-java``) and ``gopeer/main.go``
(go-zookeeper's ``zk.NewLock``, Debian's ``golang-github-samuel-go-zookeeper-dev``).
They are compiled once per test session into a temporary directory and driven
over stdin/stdout (the protocol is described in ``CuratorPeer.java``).

Exclusion is checked on *hold intervals*: every holder, zkfast or peer, reads
CLOCK_MONOTONIC (shared by every process on the host) right after its acquire
returns and right before it calls release, and the test checks that no two
intervals of different holders overlap (at most N for a semaphore). A hold
really lasts a little longer than its interval on both ends, so an overlap
found is a real one.

``scripts/install-interop-peers.sh`` installs the toolchains (``.ci/run`` runs
it); without them the tests skip with the reason, or fail when
``ZKFAST_REQUIRE_INTEROP=1`` (set by ``.ci/run``) says they must run.
"""

from __future__ import annotations

import atexit
import collections
import functools
import os
import queue
import random
import shutil
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Counter, Dict, List, Optional, Sequence, Tuple

import pytest

PEERS_DIR = Path(__file__).resolve().parent / "peers"
JAVA_DIR = Path("/usr/share/java")
GOPATH = "/usr/share/gocode"
GO_ZK_SOURCE = Path(GOPATH) / "src/github.com/samuel/go-zookeeper/zk/lock.go"
INSTALL_HINT = "run `bash scripts/install-interop-peers.sh` (as root) to install it"

# Curator 5.4 and what it needs at run time (Debian's jar names); slf4j-simple
# sends the peers' warnings to their stderr, which a failing test shows.
CURATOR_JARS = ("curator-recipes.jar", "curator-framework.jar", "curator-client.jar",
                "curator-x-discovery.jar", "jackson-databind.jar", "jackson-core.jar",
                "jackson-annotations.jar", "zookeeper.jar", "zookeeper-jute.jar", "guava.jar",
                "slf4j-api.jar", "slf4j-simple.jar")

#: how long any single peer answer may take before the test gives up (a hang guard)
ANSWER_TIMEOUT = 90.0


def unavailable(reason: str) -> None:
    """Skip (or fail, where the peers are required) for a missing toolchain."""
    if os.environ.get("ZKFAST_REQUIRE_INTEROP", "") not in ("", "0"):
        pytest.fail(f"ZKFAST_REQUIRE_INTEROP is set but {reason}", pytrace=False)
    pytest.skip(reason)


def _scratch_dir(prefix: str) -> Path:
    path = Path(tempfile.mkdtemp(prefix=prefix))
    atexit.register(shutil.rmtree, path, True)
    return path


@functools.lru_cache(maxsize=None)
def _build_curator_peer() -> Tuple[Optional[str], str]:
    """(classpath, "") once compiled, or (None, why not)."""
    javac, java = shutil.which("javac"), shutil.which("java")
    if javac is None or java is None:
        return None, f"javac/java not found (Debian: default-jdk-headless); {INSTALL_HINT}"
    missing = [j for j in CURATOR_JARS if not (JAVA_DIR / j).is_file()]
    if missing:
        return None, (f"Curator jars missing in {JAVA_DIR}: {', '.join(missing)} (Debian: "
                      f"libcurator-recipes-java, libcurator-discovery-java, libslf4j-java); "
                      f"{INSTALL_HINT}")
    classes = _scratch_dir("zkfast-curator-peer-")
    jars = os.pathsep.join(str(JAVA_DIR / j) for j in CURATOR_JARS)
    done = subprocess.run([javac, "-nowarn", "-cp", jars, "-d", str(classes),
                           str(PEERS_DIR / "CuratorPeer.java")],
                          capture_output=True, text=True, timeout=300)
    if done.returncode != 0:  # our program is broken: that is a failure, not a skip
        pytest.fail(f"javac CuratorPeer.java failed:\n{done.stdout}{done.stderr}", pytrace=False)
    return f"{classes}{os.pathsep}{jars}", ""


@functools.lru_cache(maxsize=None)
def _build_go_peer() -> Tuple[Optional[str], str]:
    """(path of the binary, "") once built, or (None, why not)."""
    go = shutil.which("go")
    if go is None:
        return None, f"go not found (Debian: golang-go); {INSTALL_HINT}"
    if not GO_ZK_SOURCE.is_file():
        return None, (f"go-zookeeper not found at {GO_ZK_SOURCE.parent} (Debian: "
                      f"golang-github-samuel-go-zookeeper-dev); {INSTALL_HINT}")
    binary = _scratch_dir("zkfast-go-peer-") / "gopeer"
    env = dict(os.environ, GO111MODULE="off", GOPATH=GOPATH, CGO_ENABLED="0")
    done = subprocess.run([go, "build", "-o", str(binary), "main.go"], cwd=PEERS_DIR / "gopeer",
                          env=env, capture_output=True, text=True, timeout=300)
    if done.returncode != 0:
        pytest.fail(f"go build of tests/peers/gopeer failed:\n{done.stdout}{done.stderr}",
                    pytrace=False)
    return str(binary), ""


def curator_command(connect: str, path: str, kinds: Sequence[str]) -> List[str]:
    """The command line of a Curator peer (compiled on first use; skips if it cannot be)."""
    classpath, why = _build_curator_peer()
    if classpath is None:
        unavailable(why)
    # A small, quick-starting JVM: the machine's cores are shared with the server.
    return ["java", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", "-Xss512k",
            "-Dorg.slf4j.simpleLogger.defaultLogLevel=warn",
            "-cp", str(classpath), "CuratorPeer", connect, path, ",".join(kinds)]


def go_command(connect: str, path: str, instances: int) -> List[str]:
    """The command line of a go-zookeeper peer (built on first use; skips if it cannot be)."""
    binary, why = _build_go_peer()
    if binary is None:
        unavailable(why)
    return [str(binary), connect, path, str(instances)]


# ---------------------------------------------------------------- holds


@dataclass(frozen=True)
class Hold:
    """One holder's hold, in CLOCK_MONOTONIC nanoseconds."""

    side: str      # "zkfast", "curator", "go"
    holder: str    # unique per recipe instance, e.g. "curator-1"
    role: str      # "R" (shared), "W" (exclusive), "S" (a semaphore lease)
    start: int
    end: int


def max_concurrent(holds: Sequence[Hold]) -> Tuple[int, List[Hold]]:
    """The most holds active at one instant, and one such set of holds."""
    events = sorted([(h.start, 1, i) for i, h in enumerate(holds)]
                    + [(h.end, 0, i) for i, h in enumerate(holds)])  # ends first at a tie
    active: Dict[int, Hold] = {}
    best: List[Hold] = []
    for _, is_start, i in events:
        if is_start:
            active[i] = holds[i]
            if len(active) > len(best):
                best = list(active.values())
        else:
            del active[i]
    return len(best), best


def exclusion_violations(holds: Sequence[Hold]) -> List[Tuple[Hold, Hold]]:
    """Pairs of overlapping holds of different holders where one is exclusive
    ("W"); readers ("R") may overlap each other."""
    ordered = sorted(holds, key=lambda h: h.start)
    bad: List[Tuple[Hold, Hold]] = []
    for i, a in enumerate(ordered):
        for b in ordered[i + 1:]:
            if b.start >= a.end:
                break
            if a.holder != b.holder and "W" in (a.role, b.role):
                bad.append((a, b))
    return bad


def handoffs(holds: Sequence[Hold]) -> Counter[Tuple[str, str]]:
    """How often the next hold (by start) belonged to another side: (from, to) counts."""
    ordered = sorted(holds, key=lambda h: h.start)
    return collections.Counter((a.side, b.side) for a, b in zip(ordered, ordered[1:])
                               if a.side != b.side)


def describe(holds: Sequence[Hold], t0: int) -> str:
    return "\n".join(f"  {h.holder:<10} {h.role} {(h.start - t0) / 1e6:10.3f} .. "
                     f"{(h.end - t0) / 1e6:10.3f} ms" for h in sorted(holds, key=lambda h: h.start))


def assert_exclusive(holds: Sequence[Hold]) -> None:
    bad = exclusion_violations(holds)
    if bad:
        t0 = min(h.start for h in holds)
        a, b = bad[0]
        raise AssertionError(f"{len(bad)} overlapping holds, e.g. {a.holder} and {b.holder}:\n"
                             + describe([a, b], t0))


# ---------------------------------------------------------------- peer processes


class Peer:
    """A running peer program: send it commands, read its answers."""

    def __init__(self, name: str, argv: List[str], side: str) -> None:
        self.name = name
        self.side = side
        self._log = tempfile.TemporaryFile(mode="w+", prefix=f"zkfast-{name}-")
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=self._log, text=True, bufsize=1)
        self._lines: "queue.Queue[Optional[str]]" = queue.Queue()
        self._backlog: List[List[str]] = []
        self.holds: List[Hold] = []
        threading.Thread(target=self._read, name=f"{name}-stdout", daemon=True).start()
        self.expect("READY")

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self._lines.put(line.rstrip("\n"))
        self._lines.put(None)

    def stderr_tail(self, chars: int = 4000) -> str:
        self._log.seek(0)
        return self._log.read()[-chars:]

    def send(self, line: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()

    def expect(self, *words: str, index: Optional[int] = None,
               timeout: float = ANSWER_TIMEOUT) -> List[str]:
        """The next answer starting with one of ``words`` (and, given ``index``,
        about that instance), split into words. Answers of different instances
        come in any order: the others wait in a backlog for their own ``expect``.
        HELD lines go to ``holds``; an ERROR line fails the test."""
        deadline = time.monotonic() + timeout
        while True:
            for k, w in enumerate(self._backlog):
                if w[0] in words and (index is None or w[1] == str(index)):
                    del self._backlog[k]
                    return w
            try:
                line = self._lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError(f"{self.name}: no {'/'.join(words)} within {timeout}s "
                                     f"(unread: {self._backlog}); stderr:\n{self.stderr_tail()}"
                                     ) from None
            if line is None:
                raise AssertionError(f"{self.name} exited ({self.proc.wait()}) waiting for "
                                     f"{'/'.join(words)}; stderr:\n{self.stderr_tail()}")
            w = line.split()
            if not w:
                continue
            if w[0] == "HELD":
                self.holds.append(Hold(self.side, f"{self.name}-{w[1]}", w[2], int(w[3]), int(w[4])))
            elif w[0] == "ERROR":
                raise AssertionError(f"{self.name}: {line}\nstderr:\n{self.stderr_tail()}")
            else:
                self._backlog.append(w)

    def now(self) -> int:
        self.send("now")
        return int(self.expect("NOW")[1])

    def acquire(self, i: int = 0, timeout_ms: int = -1) -> Optional[int]:
        """When instance ``i`` got it (its clock), or None if ``timeout_ms`` passed first."""
        self.send(f"acquire {i} {timeout_ms}")
        w = self.expect("ACQUIRED", "TIMEOUT", index=i)
        return int(w[2]) if w[0] == "ACQUIRED" else None

    def release(self, i: int = 0) -> int:
        """When instance ``i`` began to release (its clock)."""
        self.send(f"release {i}")
        return int(self.expect("RELEASED", index=i)[2])

    def start_loop(self, rounds: int, hold_ms: int, pause_ms: int) -> None:
        """Every instance acquires, holds ``hold_ms``, releases and pauses a random
        0..``pause_ms``, ``rounds`` times."""
        self.send(f"loop {rounds} {hold_ms} {pause_ms}")
        self.expect("LOOPING")

    def wait_loop(self) -> List[Hold]:
        self.expect("DONE")
        return list(self.holds)

    def close(self) -> None:
        if self.proc.poll() is None:
            try:
                self.send("quit")
                self.proc.wait(30)
            except (OSError, subprocess.TimeoutExpired):
                self.proc.kill()
                self.proc.wait()
        self._log.close()


class Peers:
    """Starts peers for one test and stops them at its end (a fixture's value)."""

    def __init__(self) -> None:
        self._running: List[Peer] = []

    def curator(self, connect: str, path: str, *kinds: str) -> Peer:
        """A Curator peer with one recipe instance per kind (see CuratorPeer.java)."""
        return self._start(f"curator{len(self._running)}", curator_command(connect, path, kinds),
                           "curator")

    def go(self, connect: str, path: str, instances: int = 1) -> Peer:
        """A go-zookeeper peer with ``instances`` locks on ``path``."""
        return self._start(f"go{len(self._running)}", go_command(connect, path, instances), "go")

    def _start(self, name: str, argv: List[str], side: str) -> Peer:
        peer = Peer(name, argv, side)
        self._running.append(peer)
        return peer

    def close(self) -> None:
        for peer in self._running:
            peer.close()


def check_clock(peer: Peer) -> None:
    """The peer's clock is ours (CLOCK_MONOTONIC): its reading falls between two of ours."""
    before = time.monotonic_ns()
    theirs = peer.now()
    after = time.monotonic_ns()
    assert before <= theirs <= after, f"{peer.name}'s clock is not CLOCK_MONOTONIC"


# ---------------------------------------------------------------- zkfast contenders


def run_zkfast(contenders: Sequence[Tuple[str, Any]], rounds: int, hold: float, pause: float,
               acquire: Callable[[Any], Any], release: Callable[[Any], Any],
               still_held: Callable[[Any], bool] = lambda r: True,
               during_hold: Optional[Callable[[int, int], None]] = None,
               role: Callable[[Any], str] = lambda r: "W", side: str = "zkfast") -> List[Hold]:
    """Each (holder name, recipe) in its own thread, ``rounds`` times: ``acquire``
    (must return true), hold ``hold`` seconds, ``release``, pause a random 0..``pause``
    seconds (so the line does not settle into one fixed round-robin order).
    ``during_hold(worker, round)`` runs inside each hold (fault injection), and
    ``still_held(recipe)`` must be true at its end. Returns the holds, of ``side``
    (in-process peers such as kazoo run here too)."""
    holds: List[Hold] = []
    errors: List[BaseException] = []
    guard = threading.Lock()

    def work(index: int, holder: str, recipe: Any) -> None:
        try:
            for r in range(rounds):
                assert acquire(recipe), f"{holder}: acquire gave up in round {r}"
                start = time.monotonic_ns()
                time.sleep(hold)
                if during_hold is not None:
                    during_hold(index, r)
                end = time.monotonic_ns()
                assert still_held(recipe), f"{holder}: hold lost in round {r}"
                release(recipe)
                with guard:
                    holds.append(Hold(side, holder, role(recipe), start, end))
                time.sleep(random.uniform(0, pause))
        except BaseException as e:  # noqa: BLE001  # reported by the caller
            errors.append(e)

    threads = [threading.Thread(target=work, args=(i, name, recipe), name=name)
               for i, (name, recipe) in enumerate(contenders)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(ANSWER_TIMEOUT * 2)
        assert not t.is_alive(), f"{side} contender {t.name} hangs"
    if errors:
        raise errors[0]
    return holds
