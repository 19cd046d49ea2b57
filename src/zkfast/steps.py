"""Steps: what a multi-round-trip call yields to the client that drives it.

Calls that need several round trips (``ensure_path``, recursive delete,
protected creates, every recipe) are written once, as generators. Each value
such a generator yields is a *step*:

* a :class:`~zkfast.protocol.PendingRequest` (built by the engine's ``op_*``
  methods): the driver sends it and sends back its result, or throws its error
  into the generator;
* a :class:`Batch` of requests, sent together (pipelined): the driver sends
  back a list with one result or exception instance per request.

This module sits below the API and the recipes; both use it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Union

if TYPE_CHECKING:
    from .protocol import PendingRequest

__all__ = ["Batch", "Step", "PROTECTED_PREFIX"]

#: The name prefix of a protected node: ``_c_<guid>-<name>`` (Curator's layout).
PROTECTED_PREFIX = "_c_"


class Batch(list):  # type: ignore[type-arg]  # a plain list at run time (a List[...] base adds Generic)
    """Requests a composite call pipelines; the driver sends back a list of
    results, each an exception instance where that request failed."""


Step = Union["PendingRequest", Batch, Any]
