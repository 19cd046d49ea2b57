"""kazoo's extra log level below DEBUG (its wire-level chatter)."""

BLATHER = 5
