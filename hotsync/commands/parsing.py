"""The argument parser every command uses, so usage errors look and exit the same."""

import argparse

from ..errors import UsageError


class CommandParser(argparse.ArgumentParser):
    """An ``ArgumentParser`` that raises ``UsageError`` (exit 2) instead of exiting itself."""

    def __init__(self, command: str, **options):
        super().__init__(prog=f"hotsync {command}", **options)

    def error(self, message):
        raise UsageError(f"{self.prog}: {message}")
