# Shipped data folder; mapped into the package as hotsync.templates (see setup.cfg).
