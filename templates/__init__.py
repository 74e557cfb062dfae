# Shipped data folder; mapped into the package as hotsync.shipped.templates (see setup.cfg).
