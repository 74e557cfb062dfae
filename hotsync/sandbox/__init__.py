"""The sandbox adapter: a host in a folder, for the demo and the tests. A supervisor runs the
real daemons, installed packages are declared in a file, and the ``/proc`` helpers are shared
with the tests. Reached from the core through ``hotsync.host`` (see there)."""
