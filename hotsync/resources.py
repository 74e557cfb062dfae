"""Where the shipped, non-Python files are: the grammar, the templates, the events.

They are mapped into the package (see setup.cfg), so an installed copy finds them as
``hotsync.shipped.grammar`` and friends; a source checkout used without installing finds them
beside the package.
"""

from importlib import resources
from pathlib import Path


def shipped_folder(name: str) -> Path:
    """The folder of shipped files named ``grammar``, ``templates`` or ``events``."""
    try:
        return Path(str(resources.files(f"hotsync.shipped.{name}")))
    except ModuleNotFoundError:
        return Path(__file__).resolve().parent.parent / name
