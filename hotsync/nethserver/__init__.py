"""The NethServer 7 adapter: the e-smith configuration database and events, ``hotsync install``,
systemd and rpm/yum. Reached from the core through ``hotsync.host`` (see there)."""
