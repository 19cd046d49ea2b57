"""``main()``: parse, run one command, and turn its outcome into an exit code."""

from __future__ import annotations

import logging
import os
import sys
import traceback
from collections.abc import Sequence
from typing import IO

from .commands import COMMANDS
from .context import DEFAULT_HOSTS, Context, auth_failure_message
from .exitcodes import (
    EXIT_AUTH,
    EXIT_BROKEN_PIPE,
    EXIT_CONNECTION,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_USAGE,
    CLIError,
    describe,
    exit_code_for,
)
from .output import Output
from .parser import parse

log = logging.getLogger("zkfast.cli")


def main(argv: Sequence[str] | None = None, *, stdout: IO[str] | None = None,
         stderr: IO[str] | None = None, stdin: IO[str] | None = None) -> int:
    """Run the ``zkfast`` command line; returns the exit code (the console script
    passes it to ``sys.exit``). ``stdout``/``stderr``/``stdin`` default to sys's."""
    out = stdout if stdout is not None else sys.stdout
    err = stderr if stderr is not None else sys.stderr
    inp = stdin if stdin is not None else sys.stdin
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        old_out, old_err = sys.stdout, sys.stderr
        sys.stdout, sys.stderr = out, err  # argparse prints usage/help to sys's streams
        try:
            args = parse(argv)
        finally:
            sys.stdout, sys.stderr = old_out, old_err
    except SystemExit as e:
        return e.code if isinstance(e.code, int) else (EXIT_OK if e.code is None else EXIT_USAGE)
    except CLIError as e:
        err.write(f"zkfast: error: {e}\n")
        return e.code
    if args.hosts is None:
        args.hosts = os.environ.get("ZKFAST_HOSTS") or DEFAULT_HOSTS
    logging_state = _setup_logging(args.verbose, err)
    output = Output(out, err, args.json, args.quiet)
    ctx = Context(args, output, inp)
    try:
        code = COMMANDS[args.command](ctx)
        # Inside the try: one big write (--json, dump) may fail only here, and a
        # closed stdout means 141 whichever way the output was written.
        out.flush()
        return code
    except BrokenPipeError:
        _silence_stdout(out)
        return EXIT_BROKEN_PIPE
    except KeyboardInterrupt:
        err.write("zkfast: interrupted\n")
        return EXIT_INTERRUPTED
    except Exception as e:  # noqa: BLE001 - every failure becomes one line and an exit code
        code = exit_code_for(e)
        message = describe(e)
        if code == EXIT_CONNECTION and ctx.auth_failed():
            code, message = EXIT_AUTH, auth_failure_message(args)
        if args.verbose:
            traceback.print_exception(type(e), e, e.__traceback__, file=err)
        err.write(f"zkfast: error: {message}\n")
        err.flush()
        return code
    finally:
        try:
            out.flush()
        except (BrokenPipeError, ValueError):
            pass
        try:
            ctx.close()
        except Exception:  # closing must not mask the command's result
            log.debug("closing the client failed", exc_info=True)
        _restore_logging(logging_state)



def _setup_logging(verbose: int, err: IO[str]) -> tuple[logging.Handler, int]:
    """Log ``zkfast.*`` to stderr with ``-v``; without it, keep the client's own
    warnings (logging's last-resort handler) off stderr, where only the command's
    one-line error belongs. Returns what :func:`_restore_logging` undoes."""
    logger = logging.getLogger("zkfast")
    if not verbose:
        quiet = logging.NullHandler()
        logger.addHandler(quiet)
        return quiet, logger.level
    handler = logging.StreamHandler(err)
    handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
    old_level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG if verbose > 1 else logging.INFO)
    return handler, old_level


def _restore_logging(saved: tuple[logging.Handler, int]) -> None:
    # main() may run many times in one process (tests, embedding)
    logger = logging.getLogger("zkfast")
    logger.removeHandler(saved[0])
    logger.setLevel(saved[1])


def _silence_stdout(out: IO[str]) -> None:
    if out is sys.stdout:
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
        except (OSError, ValueError):
            pass
