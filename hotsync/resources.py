"""Where the shipped, non-Python files are: the grammar, the templates, the events.

They are mapped into the package (see setup.cfg), so an installed copy finds them as
``hotsync.shipped.grammar`` and friends; a source checkout used without installing finds them
beside the package.
"""

from importlib.util import find_spec
from pathlib import Path


def shipped_folder(name: str) -> Path:
    """The folder of shipped files named ``grammar``, ``templates`` or ``events``."""
    # The package's own folder, as the import system found it (importlib.resources.files would
    # say the same from Python 3.9 on; NethServer 7 has 3.6).
    spec = find_spec(f"hotsync.shipped.{name}")
    if spec is not None and spec.submodule_search_locations:
        return Path(list(spec.submodule_search_locations)[0])
    return Path(__file__).resolve().parent.parent / name
