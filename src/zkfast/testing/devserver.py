"""A local ZooKeeper for development: ``python -m zkfast.testing``.

Starts a standalone server (or ``--ensemble N`` servers) on 127.0.0.1, prints the
connect string, and runs until Ctrl-C or SIGTERM, then stops the JVM(s) cleanly::

    $ python -m zkfast.testing --port 2181
    connect: 127.0.0.1:2181
    ...

Data is thrown away on exit unless ``--data-dir`` names a directory to keep it in.
Java and the ZooKeeper jars are found as for the test harness (``ZKFAST_JAVA``,
``ZKFAST_ZK_HOME``, ``ZKFAST_ZK_CLASSPATH``, else Debian's ``zookeeper`` package).
"""

from __future__ import annotations

import argparse
import signal
import sys
import time
from types import FrameType
from typing import Callable, Optional, Sequence, TextIO, Union

from .ensemble import Ensemble
from .errors import PortInUseError, ZooKeeperNotAvailable, ZooKeeperStartError
from .server import ZooKeeperServer

__all__ = ["main"]

_STOP_SIGNALS = tuple(
    getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name)
)


class _Stop(BaseException):
    """Raised in the main thread by a stop signal, so even a start in progress ends."""


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m zkfast.testing",
        description="Run a local ZooKeeper on 127.0.0.1 for development until Ctrl-C or SIGTERM.",
    )
    p.add_argument("--port", type=int, default=2181,
                   help="client port (default 2181; 0 picks a free one). An ensemble's members "
                        "get PORT, PORT+1, ...")
    p.add_argument("--ensemble", type=int, default=1, metavar="N",
                   help="run N servers forming one quorum (default 1: a standalone server)")
    p.add_argument("--tls", action="store_true",
                   help="also open a TLS client port (free port), with a fresh test CA printed below")
    p.add_argument("--data-dir", metavar="DIR",
                   help="keep the data in DIR across runs (default: a temporary directory "
                        "removed on exit)")
    p.add_argument("--tick-time", type=int, default=2000, metavar="MS",
                   help="ZooKeeper tickTime in ms (default 2000; sessions may last 2 to 20 ticks)")
    return p


def _describe(target: Union[ZooKeeperServer, Ensemble], data_dir: Optional[str], out: TextIO) -> None:
    servers = target.servers if isinstance(target, Ensemble) else [target]
    version = servers[0].four_letter("srvr").splitlines()[0].partition(":")[2].strip()
    kind = f"{len(servers)}-server ensemble" if isinstance(target, Ensemble) else "standalone"
    lines = [f"connect: {target.hosts}"]
    if servers[0].tls:
        first = servers[0]
        lines += [f"tls: {target.secure_hosts}",
                  f"  ca file:     {first.ca_file}",
                  f"  client cert: {first.client_cert_file}",
                  f"  client key:  {first.client_key_file}"]
    lines.append(f"zookeeper: {version.split(',')[0]} ({kind})")
    for i, s in enumerate(servers):
        who = f"server.{i + 1} {s.hosts} {s.mode() or '?'}" if len(servers) > 1 else "server"
        lines.append(f"{who}: pid {s.pid}, log {s.log_path}")
    lines.append(f"data: {data_dir} (kept)" if data_dir else "data: temporary, removed on exit")
    lines.append("Stop with Ctrl-C or SIGTERM.")
    out.write("".join(line + "\n" for line in lines))
    out.flush()


def _serve(target: Union[ZooKeeperServer, Ensemble], data_dir: Optional[str], out: TextIO,
           err: TextIO) -> int:
    """Start, describe, and wait for a stop signal, or until every server has died (an
    ensemble keeps running when you kill members to watch a failover)."""
    target.start()
    _describe(target, data_dir, out)
    servers = target.servers if isinstance(target, Ensemble) else [target]
    reported: set[int] = set()
    while True:
        time.sleep(0.5)
        for i, s in enumerate(servers):
            if i not in reported and not s.running:
                reported.add(i)
                err.write(f"zkfast.testing: the server on {s.hosts} exited; its log ends:\n"
                          f"{s.log_tail(20)}\n")
                err.flush()
        if len(reported) == len(servers):
            return 1


def main(argv: Optional[Sequence[str]] = None, *, out: TextIO = sys.stdout, err: TextIO = sys.stderr) -> int:
    """Run the development server; returns the exit status (0 after a stop signal)."""
    args = _parser().parse_args(argv)
    if args.ensemble < 1:
        _parser().error("--ensemble needs at least 1 server")
    port = args.port or None

    def stop(signum: int, frame: Optional[FrameType]) -> None:
        raise _Stop

    previous: dict[int, Union[Callable[[int, Optional[FrameType]], object], int, None]] = {}
    for sig in _STOP_SIGNALS:
        previous[sig] = signal.signal(sig, stop)
    target: Union[ZooKeeperServer, Ensemble, None] = None
    try:
        try:
            if args.ensemble == 1:
                target = ZooKeeperServer(port=port, data_dir=args.data_dir, tls=args.tls,
                                         tick_time=args.tick_time)
            else:
                target = Ensemble(args.ensemble, port=port, data_dir=args.data_dir, tls=args.tls,
                                  tick_time=args.tick_time)
            return _serve(target, args.data_dir, out, err)
        except _Stop:
            return 0
        except PortInUseError as e:
            err.write(f"zkfast.testing: {e}; choose another with --port\n")
            return 1
        except (ZooKeeperNotAvailable, ZooKeeperStartError, ValueError, OSError) as e:
            err.write(f"zkfast.testing: {e}\n")
            return 1
        finally:
            # A second signal must not cut the shutdown short: it is bounded (SIGKILL
            # after 15 s per server) and leaves no JVM behind.
            for sig in _STOP_SIGNALS:
                signal.signal(sig, signal.SIG_IGN)
            if target is not None:
                target.stop()  # SIGTERM: ZooKeeper shuts down cleanly
                target.close()  # removes temporary directories; a --data-dir is kept
                err.write("zkfast.testing: stopped\n")
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
