"""HotSync: a warm-standby synchronisation tool for NethServer hosts."""

__version__ = "0.1.0"
