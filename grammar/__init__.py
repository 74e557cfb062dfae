# Shipped data folder; mapped into the package as hotsync.shipped.grammar (see setup.cfg).
