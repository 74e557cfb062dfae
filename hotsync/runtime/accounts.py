"""User and group names of a root, read from its own ``/etc/passwd`` and ``/etc/group``.

A sandbox host must resolve ``asterisk`` to *its* asterisk, not to the machine's, exactly
as a real slave resolves names with its own files: user ids can differ between master
and slave, which is why ownership is fixed by name after every sync.
"""

from typing import Dict, Optional

from ..digits import ascii_number
from ..errors import HotsyncError
from ..frozen import frozen
from ..root import Root

PASSWD_PATH = "/etc/passwd"
GROUP_PATH = "/etc/group"
NO_ID = 2**32 - 1  # chown's "leave unchanged"; larger ids do not exist


class UnknownAccount(HotsyncError):
    """A user or group name the root's account files do not define."""


@frozen
class Accounts:
    """Name → numeric id for the users and groups of one root."""

    users: Dict[str, int]
    groups: Dict[str, int]

    def user_id(self, name: str) -> int:
        """The uid of ``name``; ``UnknownAccount`` names the user and the file when absent."""
        if account_id(name) is not None:
            return int(name)
        if name not in self.users:
            raise UnknownAccount(f"user '{name}' does not exist in {PASSWD_PATH} of this host")
        return self.users[name]

    def group_id(self, name: str) -> int:
        """The gid of ``name``; ``UnknownAccount`` names the group and the file when absent."""
        if account_id(name) is not None:
            return int(name)
        if name not in self.groups:
            raise UnknownAccount(f"group '{name}' does not exist in {GROUP_PATH} of this host")
        return self.groups[name]


def read_accounts(root: Root) -> Accounts:
    """The root's users and groups (a missing file defines none)."""
    return Accounts(
        users=parse_account_file(_read(root, PASSWD_PATH)),
        groups=parse_account_file(_read(root, GROUP_PATH)),
    )


def parse_account_file(text: str) -> Dict[str, int]:
    """``name:password:id:…`` lines → {name: id}; comments, blanks and malformed lines are skipped.

    Both files keep the name in the first field and the numeric id in the third; the
    first definition of a name wins, as with the C library.
    """
    accounts: Dict[str, int] = {}
    for line in text.splitlines():
        fields = line.split(":")
        if len(fields) < 3 or line.startswith("#") or not fields[0] or account_id(fields[2]) is None:
            continue
        accounts.setdefault(fields[0], int(fields[2]))
    return accounts


def account_id(text: str) -> Optional[int]:
    """The user or group id ``text`` spells in ASCII digits, or None when it spells none
    (another kind of digit, or a number no id can be)."""
    number = ascii_number(text)
    return number if number is not None and number < NO_ID else None


def _read(root: Root, host_path: str) -> str:
    try:
        return root.path(host_path).read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return ""
