"""zkfast.kazoo has kazoo 2.11's public names and signatures: every public
function, class, method and property of the real kazoo's public modules exists
in zkfast.kazoo with the same parameters (names, order, kinds, defaults), so
calls written for kazoo bind the same way."""

from __future__ import annotations

import importlib
import inspect
from typing import Any, Iterator, List, Tuple

import pytest

kazoo = pytest.importorskip("kazoo", reason="the real kazoo is a test dependency")

MODULES = ["client", "exceptions", "retry", "security", "interfaces", "hosts", "loggingsupport",
           "protocol.paths", "protocol.states", "handlers.threading", "recipe.barrier",
           "recipe.cache", "recipe.counter", "recipe.election", "recipe.lease", "recipe.lock",
           "recipe.partitioner", "recipe.party", "recipe.queue", "recipe.watchers",
           "testing.harness"]

# Public in kazoo's modules but not part of what zkfast.kazoo mirrors, with why.
NOT_MIRRORED = {
    # wire records kazoo's client module imports for its own use
    "client.Auth", "client.CheckVersion", "client.CloseInstance", "client.Create",
    "client.Create2", "client.Delete", "client.Exists", "client.GetACL", "client.GetChildren",
    "client.GetChildren2", "client.GetData", "client.Reconfig", "client.SetACL",
    "client.SetData", "client.Sync", "client.Transaction", "client.ConnectionHandler",
    "client.ENVI_VERSION", "client.ENVI_VERSION_KEY", "client.BLATHER",
    "client.capture_exceptions", "client.wrap", "client.log",
    "client.CLOSED_STATES",
    # the handler's socket utilities (zkfast does its own I/O)
    "handlers.threading.selector_select",
    # kazoo's TreeCache internals
    "recipe.cache.handle_exception", "recipe.cache.kazoo_join", "recipe.cache.logger",
    # kazoo's harness globals
    "testing.harness.CLUSTER", "testing.harness.CLUSTER_CONF", "testing.harness.CLUSTER_DEFAULTS",
    "testing.harness.get_global_cluster",
    # names kazoo's recipe modules import for their own use
    "recipe.barrier.EventType", "recipe.queue.EventType", "recipe.cache.EventType",
    "recipe.cache.NoNodeError",
}


def _public(obj: Any) -> Iterator[Tuple[str, Any]]:
    for name, value in vars(obj).items():
        if not name.startswith("_"):
            yield name, value


def _own_names(module: Any) -> Iterator[Tuple[str, Any]]:
    """Module-level functions and classes kazoo defines or re-exports from kazoo."""
    for name, value in _public(module):
        if inspect.ismodule(value):
            continue
        home = getattr(value, "__module__", "") or ""
        if (inspect.isclass(value) or inspect.isfunction(value)) and home.startswith("kazoo"):
            yield name, value


def _params(fn: Any) -> List[Tuple[str, Any, Any]]:
    """Names, kinds and defaults; a default that is a function (a clock) only has to be one."""
    sig = inspect.signature(fn)
    return [(p.name, p.kind, callable if inspect.isroutine(p.default) else p.default)
            for p in sig.parameters.values()]


def _cases() -> Iterator[Tuple[str, Any, Any]]:
    for mod in MODULES:
        theirs = importlib.import_module(f"kazoo.{mod}")
        ours = importlib.import_module(f"zkfast.kazoo.{mod}")
        for name, value in _own_names(theirs):
            yield f"{mod}.{name}", value, getattr(ours, name, None)


# Classes mirrored by name only: kazoo's own internals behind a public name.
NAME_ONLY = {"recipe.cache.TreeNode"}


@pytest.mark.parametrize("qualname, theirs, ours", list(_cases()),
                         ids=lambda v: v if isinstance(v, str) else "")
def test_name_and_signature(qualname: str, theirs: Any, ours: Any) -> None:
    if qualname in NOT_MIRRORED:
        return
    assert ours is not None, f"zkfast.kazoo has no {qualname}"
    if qualname in NAME_ONLY:
        return
    if inspect.isfunction(theirs):
        assert _params(ours) == _params(theirs), qualname
        return
    if issubclass(theirs, BaseException):
        return  # exceptions: hierarchy and codes are checked in test_kazoo_compat
    try:
        assert _params(ours.__init__) == _params(theirs.__init__), f"{qualname}.__init__"
    except ValueError:
        pass  # a C-level or namedtuple __init__
    for name, member in _public(theirs):
        where = f"{qualname}.{name}"
        mine = inspect.getattr_static(ours, name, None)
        assert mine is not None, f"zkfast.kazoo has no {where}"
        if inspect.isfunction(member):
            assert _params(getattr(ours, name)) == _params(member), where


def test_client_instance_attributes() -> None:
    from kazoo.client import KazooClient as Theirs

    from zkfast.kazoo.client import KazooClient as Ours
    theirs, ours = Theirs(), Ours()
    wanted = {n for n in vars(theirs) if not n.startswith("_")}
    have = set(vars(ours)) | {n for n in dir(Ours) if not n.startswith("_")}
    assert wanted <= have, sorted(wanted - have)
    for prop in ("client_state", "client_id", "connected"):
        assert isinstance(inspect.getattr_static(Ours, prop), property), prop
