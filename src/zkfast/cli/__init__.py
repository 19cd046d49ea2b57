"""The ``zkfast`` command line: look at and fix a ZooKeeper tree from a shell.

::

    zkfast --hosts zk1:2181,zk2:2181/app ls -R /
    zkfast get /config | jq .
    zkfast watch -r /workers --count 1 --timeout 30
    zkfast dump / --out backup.json && zkfast load backup.json /restored
    zkfast lock /locks/nightly -- ./nightly-job.sh

Every command connects with the global options (``--hosts`` or ``$ZKFAST_HOSTS``,
``--auth``, TLS flags, ``--timeout``), prints plain text for people or one JSON
document with ``--json`` for scripts, and ends with an exit code scripts can
trust (see :data:`EXIT_CODES`). Errors are one line on stderr; ``-v`` adds
logging and tracebacks.

Tables and progress (nodes done, of how many, and the rate) use ``rich`` when it
is installed (``pip install 'zkfast[cli]'``) and the output is a terminal;
otherwise plain text. zkfast itself does not depend on it.

Bulk commands (``ls -R``, ``tree``, ``du``, ``dump``, ``rm -r``) use
:mod:`zkfast.recipe.bulk`: hundreds of operations per ``multi_read``/``multi``
request, several requests in flight; ``load`` pipelines single creates. At
most ``--window`` operations are in flight, so a tree of 100,000 nodes takes
seconds, not minutes.

The package, one job a module: :mod:`.exitcodes` (codes and errors),
:mod:`.parser` (argparse), :mod:`.output` (terminal output and progress),
:mod:`.acl` (ACL specs), :mod:`.values` (how values and stats print),
:mod:`.context` (the connection and bulk helpers), :mod:`.dumpformat` (dump
files), :mod:`.commands` (the commands), :mod:`.run` (:func:`main`).
"""

from __future__ import annotations

from .acl import format_acl, parse_acl_spec
from .exitcodes import EXIT_CODES, CLIError, exit_code_for
from .output import Output, Progress
from .parser import build_parser
from .parser import parse as _parse  # noqa: F401 - the tests parse without running
from .run import main

__all__ = ["EXIT_CODES", "CLIError", "build_parser", "format_acl", "main", "parse_acl_spec",
           "Output", "Progress", "exit_code_for"]
