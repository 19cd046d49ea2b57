"""kazoo's ``protocol`` package: states and paths (the wire protocol itself is zkfast's)."""
