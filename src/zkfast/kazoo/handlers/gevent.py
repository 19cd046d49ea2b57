"""kazoo's gevent handler is not available in zkfast.kazoo (threads only).

Importing this module raises ImportError, so code that picks the first
handler that imports (as kazoo's own tests do) falls back to the threading
one. zkfast runs its I/O on its own threads and is not tested under gevent's
monkey patching; cooperative code can use :class:`zkfast.AsyncClient` (asyncio).
"""

raise ImportError(
    "zkfast.kazoo.handlers.gevent: zkfast.kazoo supports only the threading handler "
    "(zkfast.kazoo.handlers.threading.SequentialThreadingHandler, the default); "
    "SequentialGeventHandler is not available")
