"""Packages in a sandbox root: declared in a plain file, probed repositories, no package manager.

The root declares its installed packages in ``/var/lib/hotsync/sandbox-packages``: one
package a line, ``NAME VERSION`` (the version may be omitted), ``#`` starts a comment::

    # packages this sandbox host pretends to have
    nethserver-mysql 1.2.3
    nethserver-freepbx 14.0.4

Installing a package adds its line to that file.
"""

import socket
from typing import Dict, List, Sequence
from urllib.parse import urlparse

from ..files import write_file_atomic
from ..nethserver.packages import parse_package_lines
from ..root import Root

SANDBOX_PACKAGES_PATH = "/var/lib/hotsync/sandbox-packages"
REPOSITORY_FOLDER = "/etc/yum.repos.d"
REPOSITORY_URL_KEYS = ("baseurl", "mirrorlist", "metalink")
REPOSITORY_PROBE_SECONDS = 5.0


def read_sandbox_packages(root: Root) -> Dict[str, str]:
    """The ``NAME VERSION`` lines of a sandbox root's package file (missing file = no packages)."""
    try:
        text = root.path(SANDBOX_PACKAGES_PATH).read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    return parse_package_lines(text)


def record_packages(root: Root, names: Sequence[str]) -> str:
    """Add ``names`` to the root's package file (the sandbox's install); returns what was done."""
    present = read_sandbox_packages(root)
    lines = [f"{package} {version}".rstrip() for package, version in present.items()]
    lines += [package for package in names if package not in present]
    write_file_atomic(root.path(SANDBOX_PACKAGES_PATH), "".join(f"{line}\n" for line in lines), mode=0o644)
    return f"installed (sandbox: recorded in {SANDBOX_PACKAGES_PATH}): {', '.join(names)}"


def unreachable_repositories(root: Root) -> str:
    """Why packages cannot be downloaded now, or "" when they can.

    A sandbox has no package manager of its own: it probes the repository addresses
    written in its own ``/etc/yum.repos.d`` (synced from the master).
    """
    urls = repository_urls(root)
    if urls and not any(url_reachable(root, url) for url in urls):
        return ", ".join(urls)
    return ""


def repository_urls(root: Root) -> List[str]:
    """The first address of each enabled repository in the root's ``*.repo`` files."""
    folder = root.path(REPOSITORY_FOLDER)
    urls: List[str] = []
    for repo_file in sorted(folder.glob("*.repo")) if folder.is_dir() else []:
        for section in _repo_sections(repo_file.read_text(encoding="utf-8", errors="replace")):
            if section.get("enabled", "1").strip() in ("0", "false", "no"):
                continue
            for key in REPOSITORY_URL_KEYS:
                if section.get(key):
                    urls.append(section[key].split()[0])
                    break
    return urls


def _repo_sections(text: str) -> List[dict]:
    sections: List[dict] = []
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("[") and line.endswith("]"):
            sections.append({})
        elif "=" in line and sections and not line.startswith("#"):
            key, value = line.split("=", 1)
            sections[-1][key.strip().lower()] = value.strip()
    return sections


def url_reachable(root: Root, url: str) -> bool:
    """Whether a repository address answers: a TCP connection for http(s)/ftp, a folder for file://."""
    parts = urlparse(url)
    if parts.scheme == "file":
        return root.path(parts.path or "/").exists()
    port = parts.port or {"https": 443, "ftp": 21}.get(parts.scheme, 80)
    try:
        with socket.create_connection((parts.hostname or "", port), timeout=REPOSITORY_PROBE_SECONDS):
            return True
    except (OSError, ValueError):
        return False
