"""kazoo's API on the zkfast engine: existing kazoo code switches by changing its imports.

``zkfast.kazoo`` mirrors kazoo 2.11's public module layout (``client``,
``exceptions``, ``retry``, ``security``, ``interfaces``, ``hosts``,
``protocol.paths``, ``protocol.states``, ``handlers.threading``, ``recipe.*``,
``testing``) and behaviour, on top of :class:`zkfast.Client`. The migration is
one substitution in the imports::

    from kazoo.client import KazooClient           # before
    from zkfast.kazoo.client import KazooClient    # after

Its recipes use kazoo's own node layouts and data formats, so kazoo and
``zkfast.kazoo`` processes can share locks, elections, semaphores, counters and
queues during a rolling migration. ``KazooClient.native`` is the
:class:`zkfast.Client` underneath, for moving to zkfast's own API name by name
(see docs/migrating-from-kazoo.md).

Importing this package loads nothing else; ``zkfast.kazoo.client`` loads the client.
"""
