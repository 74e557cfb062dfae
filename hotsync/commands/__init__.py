"""One module per ``hotsync`` command, each with ``main(root, argv) -> int``."""
