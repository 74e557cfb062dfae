"""HotSync: a warm-standby synchronisation tool for NethServer hosts."""

# 3: the re-implementation of NethServer's nethserver-hotsync 2.2.x, whose RPM it upgrades.
__version__ = "3.0.0"
