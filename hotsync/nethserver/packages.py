"""Packages on NethServer: ``rpm`` says what is installed, ``yum`` (``dnf`` on newer hosts) installs."""

import shutil
from typing import Dict, Sequence

from ..errors import CommandError
from ..programs import run_command

RPM_TIMEOUT_SECONDS = 60
PACKAGE_TIMEOUT_SECONDS = 3600
CACHE_TIMEOUT_SECONDS = 600


def installed_packages() -> Dict[str, str]:
    """Every installed package, name -> version, with a single ``rpm -qa``.

    Raises ``CommandError`` when rpm cannot be asked.
    """
    finished = run_command(["rpm", "-qa", "--qf", "%{NAME} %{VERSION}\n"], timeout=RPM_TIMEOUT_SECONDS)
    return parse_package_lines(finished.stdout)


def parse_package_lines(text: str) -> Dict[str, str]:
    """``NAME VERSION`` lines (version optional, ``#`` starts a comment) as name -> version."""
    packages = {}
    for line in text.splitlines():
        words = line.split("#", 1)[0].split()
        if words:
            packages[words[0]] = words[1] if len(words) > 1 else ""
    return packages


def install_packages(names: Sequence[str]) -> str:
    """Install ``names`` with the package manager; returns what was done, raises ``CommandError``."""
    run_command([package_manager(), "-y", "install", *names], timeout=PACKAGE_TIMEOUT_SECONDS)
    return f"installed {len(names)} package(s): {', '.join(names)}"


def package_manager() -> str:
    """``dnf`` where it exists (newer hosts), else ``yum`` (NethServer 7)."""
    return "dnf" if shutil.which("dnf") else "yum"


def unreachable_repositories() -> str:
    """Why packages cannot be downloaded now ("" when they can): the package manager refreshes
    its metadata, the same test the install would fail on."""
    try:
        run_command([package_manager(), "-q", "makecache"], timeout=CACHE_TIMEOUT_SECONDS)
    except CommandError as error:
        return str(error)
    return ""
