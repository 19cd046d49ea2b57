"""Callback handlers. zkfast.kazoo has the threading handler only
(:mod:`zkfast.kazoo.handlers.threading`); importing ``handlers.gevent`` or
``handlers.eventlet`` raises ImportError saying so."""
