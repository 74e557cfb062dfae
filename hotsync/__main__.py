"""``python -m hotsync``: the same as the ``hotsync`` command."""

from .cli import run

run()
