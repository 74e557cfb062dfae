# Shipped data folder; mapped into the package as hotsync.shipped.events (see setup.cfg).
