"""The tunnel's pre-shared key: derived slowly from the shared password, cached on the host.

stunnel's TLS-PSK handshake proves that both ends hold the key, and whoever records one
handshake can test guesses at the key offline. The key is therefore PBKDF2-HMAC-SHA256 of
the rsync password with ``ITERATIONS`` rounds, so that each guess costs what one derivation
costs here (about a third of a second of a CPU core) instead of one hash. (scrypt would be costlier still for an
attacker, but NethServer 7's Python is built on OpenSSL 1.0.2, whose ``hashlib`` has none.)

The salt is a fixed string: both hosts must derive the same key from the same password with
nothing else shared between them, and a per-host salt would be one more secret to copy
across. A fixed salt lets an attacker precompute one dictionary against every HotSync
installation, which the iteration count makes slow; a long random password (``hotsync
install`` generates one, and ``compile`` warns about a short one) is what defeats it.

Events compile the configuration every time they run, so the key is derived only when the
password changes: the compile writes it, with a fingerprint of the password it came from,
to a root-only cache beside the plan. The fingerprint is an HMAC of the password keyed by
the derived key: it tells whether the cache matches the password of this compile, and
nobody can make a planted cache match without knowing the password.
"""

import functools
import hashlib
import hmac
import json
import re
from typing import Optional

from .. import paths
from ..root import Root

KDF = "pbkdf2-hmac-sha256"
ITERATIONS = 600000
SALT = b"hotsync stunnel pre-shared key v2"
CACHE_PATH = f"{paths.STATE_FOLDER}/tunnel-key.json"
CACHE_MODE = 0o600  # the key opens the tunnel: root only, like the password itself
_KEY = re.compile(r"[0-9a-f]{64}")


@functools.lru_cache(maxsize=8)
def derive_psk(password: str) -> str:
    """The tunnel's key for ``password``: 64 hexadecimal digits (stunnel wants at least 16
    bytes), the same on every host. Slow on purpose; remembered for this process."""
    return hashlib.pbkdf2_hmac("sha256", password.encode("utf-8"), SALT, ITERATIONS).hex()


def tunnel_key(root: Root, password: str) -> str:
    """The key for ``password``: the cached one when the root's cache was written for this
    same password, else derived now. Reads the cache; never writes it."""
    cached = read_cached_key(root, password)
    return cached if cached is not None else derive_psk(password)


def cache_content(password: str, psk: str) -> str:
    """The cache file for ``psk``, derived from ``password`` (the same text for the same pair,
    so an unchanged password leaves the file untouched)."""
    return json.dumps({
        "kdf": KDF, "iterations": ITERATIONS, "salt": SALT.decode("ascii"),
        "fingerprint": _fingerprint(password, psk), "psk": psk,
    }, indent=2, sort_keys=True) + "\n"


def read_cached_key(root: Root, password: str) -> Optional[str]:
    """The cached key when the cache exists, is intact, was made with today's derivation and
    from ``password``; None otherwise (a damaged or stale cache only costs a derivation)."""
    try:
        data = json.loads(root.path(CACHE_PATH).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or (data.get("kdf"), data.get("iterations"), data.get("salt")) != (
            KDF, ITERATIONS, SALT.decode("ascii")):
        return None
    psk, fingerprint = data.get("psk"), data.get("fingerprint")
    if not (isinstance(psk, str) and isinstance(fingerprint, str) and _KEY.fullmatch(psk) and _KEY.fullmatch(fingerprint)):
        return None
    return psk if hmac.compare_digest(fingerprint, _fingerprint(password, psk)) else None


def _fingerprint(password: str, psk: str) -> str:
    return hmac.new(bytes.fromhex(psk), password.encode("utf-8"), hashlib.sha256).hexdigest()
