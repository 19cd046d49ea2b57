"""The kazoo release whose public API ``zkfast.kazoo`` mirrors."""

__version__ = "2.11.0"
