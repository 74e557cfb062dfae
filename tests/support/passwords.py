"""The one shared password of every test host, the wrong one for the refusal cases, and the
tunnel key worked out by the tests themselves (not by HotSync)."""

import hashlib

# What the admin records on both hosts (``config setprop rsyncd password``). The golden files
# hold it, and test_tunnel_certificate.py pins the certificate derived from it.
PASSWORD = "a-long-shared-secret-of-both-hosts"
# What an intruder, or an admin who mistyped it on one host, records instead.
WRONG_PASSWORD = "an-intruders-long-guess"


def pbkdf2_key(password: str) -> str:
    """The tunnel key both hosts must derive from ``password``, worked out here and not by
    HotSync: PBKDF2-HMAC-SHA256, 600,000 rounds, the fixed salt (changing any of them would
    cut the tunnel between hosts on different versions)."""
    return hashlib.pbkdf2_hmac("sha256", password.encode("utf-8"), b"hotsync stunnel pre-shared key v2", 600000).hex()
