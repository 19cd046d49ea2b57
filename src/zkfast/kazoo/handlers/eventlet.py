"""kazoo's eventlet handler is not available in zkfast.kazoo (threads only).

Importing this module raises ImportError, so code that picks the first
handler that imports (as kazoo's own tests do) falls back to the threading
one. zkfast runs its I/O on its own threads and is not tested under eventlet's
monkey patching; cooperative code can use :class:`zkfast.AsyncClient` (asyncio).
"""

raise ImportError(
    "zkfast.kazoo.handlers.eventlet: zkfast.kazoo supports only the threading handler "
    "(zkfast.kazoo.handlers.threading.SequentialThreadingHandler, the default); "
    "SequentialEventletHandler is not available")
