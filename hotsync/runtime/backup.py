"""The configuration backup pushed with every sync, so the slave can reinstall and restore.

On a real NethServer the host's own tool (``/sbin/e-smith/backup-config``, see
``hotsync.host``) makes it. Where that tool is missing (and always in a sandbox root)
HotSync makes the equivalent: the
installed-package list, then ``backup-config.tar.xz`` holding the e-smith databases and
that list, with ``backup-config.tar.xz.md5`` (the archive's checksum) and
``backup-config.tar.xz-content.md5`` (the checksums of what is inside). When the content did not
change the archive is left alone, so a no-change sync transfers nothing.
"""

import hashlib
import io
from pathlib import Path
from typing import List

from ..files import advance_mtime_if_rewritten, file_differs, file_digest, file_status, write_file_atomic
from ..host import host_for
from ..paths import BACKUP_FOLDER, DATABASE_FOLDER
from ..root import Root
from .conditions import InstalledPackages

ARCHIVE_PATH = f"{BACKUP_FOLDER}/backup-config.tar.xz"
ARCHIVE_MD5_PATH = f"{ARCHIVE_PATH}.md5"
CONTENT_MD5_PATH = f"{ARCHIVE_PATH}-content.md5"  # the name NethServer's backup-config-md5 gives it
PACKAGE_LIST_PATH = f"{BACKUP_FOLDER}/package-list"
BACKUP_MODE = 0o600  # the e-smith databases hold passwords

# The files the push always includes (when present).
CONFIG_BACKUP_FILES = (ARCHIVE_PATH, ARCHIVE_MD5_PATH, CONTENT_MD5_PATH)


def make_config_backup(root: Root, packages: InstalledPackages) -> str:
    """Refresh the configuration backup; returns what was done, raises ``HotsyncError`` on failure."""
    before = {path: file_status(root.path(path)) for path in CONFIG_BACKUP_FILES}
    made = host_for(root).make_backup_with_host_tool()
    if made:
        # The host's tool writes its files itself: a rewrite must still look new to rsync.
        for path, status in before.items():
            advance_mtime_if_rewritten(root.path(path), status)
        return made
    write_package_list(root, packages)
    members = backup_members(root)
    content = content_checksums(root, members)
    if not file_differs(root.path(CONTENT_MD5_PATH), content, BACKUP_MODE) and root.path(ARCHIVE_PATH).exists():
        return "configuration backup unchanged"
    archive = build_archive(root, members)
    write_file_atomic(root.path(ARCHIVE_PATH), archive, mode=BACKUP_MODE)
    archive_md5 = f"{hashlib.md5(archive).hexdigest()}  {Path(ARCHIVE_PATH).name}\n"
    write_file_atomic(root.path(ARCHIVE_MD5_PATH), archive_md5, mode=BACKUP_MODE)
    # Written last: a run interrupted before this point rebuilds the archive next time.
    write_file_atomic(root.path(CONTENT_MD5_PATH), content, mode=BACKUP_MODE)
    return f"configuration backup written to {ARCHIVE_PATH}"


def write_package_list(root: Root, packages: InstalledPackages) -> None:
    """The installed package names, one a line, sorted (rewritten only when they changed)."""
    text = "".join(f"{name}\n" for name in packages.all_names())
    path = root.path(PACKAGE_LIST_PATH)
    if file_differs(path, text, 0o644):
        write_file_atomic(path, text, mode=0o644)


def backup_members(root: Root) -> List[str]:
    """Host paths of what the archive holds: every e-smith database file, then the package list."""
    folder = root.path(DATABASE_FOLDER)
    databases = []
    if folder.is_dir():
        databases = [
            f"{DATABASE_FOLDER}/{path.name}"
            for path in sorted(folder.iterdir())
            if path.is_file() and not path.name.startswith(".") and not path.name.endswith(".lock")
        ]
    return databases + [PACKAGE_LIST_PATH]


def content_checksums(root: Root, members: List[str]) -> str:
    """``md5sum``-style lines for each member, named as inside the archive."""
    return "".join(f"{file_digest(root.path(member), 'md5')}  {member.lstrip('/')}\n" for member in members)


def build_archive(root: Root, members: List[str]) -> bytes:
    """A ``.tar.xz`` of the members, named relative to ``/`` as the host tool does."""
    import tarfile  # only when the configuration changed: most syncs never build an archive

    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:xz") as archive:
        for member in members:
            archive.add(str(root.path(member)), arcname=member.lstrip("/"), recursive=False)
    return buffer.getvalue()


