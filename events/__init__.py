# Shipped data folder; mapped into the package as hotsync.events (see setup.cfg).
