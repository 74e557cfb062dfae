# Shipped data folder; mapped into the package as hotsync.grammar (see setup.cfg).
