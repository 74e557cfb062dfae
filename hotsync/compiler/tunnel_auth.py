"""How the two ends of the tunnel prove they know the shared password: which mode, and why.

* ``psk``: TLS with a pre-shared key (``tunnel_key.py``); stunnel has it from 5.09.
* ``certificate``: both ends present the certificate derived from the password and accept
  only a peer presenting exactly it (``tunnel_certificate.py``); every stunnel has it,
  4.56 (NethServer 7) included, and the configuration then uses only options 4.56 knows.

The admin's ``TunnelAuth`` setting decides when set; otherwise the installed stunnel's
version, found when compiling: ``psk`` from 5.09, ``certificate`` before it or when the
version is unknown. Both ends must use the same mode (a TLS handshake cannot fall back
from one to the other), so two hosts on either side of 5.09 set ``TunnelAuth certificate``
on the newer one.
"""

from typing import Optional

from ..frozen import frozen
from ..tool_versions import at_least

PSK_SINCE = (5, 9)  # PSKsecrets / PSKidentity
TLS_MINIMUM_SINCE = (5, 50)  # sslVersionMin
PSK_SINCE_TEXT = "5.09"  # as stunnel numbers its versions


@frozen
class TunnelAuth:
    """The chosen mode and, in words for ``hotsync status`` and the plan, why."""

    mode: str
    chosen_by: str


def choose_tunnel_auth(setting: str, stunnel_version: str) -> TunnelAuth:
    """The mode for the checked ``TunnelAuth`` value ``setting`` ("" = automatic) and the
    installed stunnel's version ("" = unknown)."""
    if setting:
        return TunnelAuth(setting, "set by TunnelAuth")
    if not stunnel_version:
        return TunnelAuth("certificate", "stunnel's version is unknown: every stunnel has certificates")
    if at_least(stunnel_version, PSK_SINCE):
        return TunnelAuth("psk", f"stunnel {stunnel_version} has pre-shared keys")
    return TunnelAuth("certificate", f"stunnel {stunnel_version} is older than {PSK_SINCE_TEXT}: no pre-shared keys")


def forced_mode_problem(setting: str, stunnel_version: str) -> Optional[str]:
    """Why ``TunnelAuth`` = ``setting`` cannot work with the installed stunnel, or None."""
    if setting == "psk" and stunnel_version and not at_least(stunnel_version, PSK_SINCE):
        return (f"TunnelAuth is psk but this host's stunnel {stunnel_version} has no pre-shared keys "
                f"(stunnel {PSK_SINCE_TEXT} and later): run 'config setprop hotsync TunnelAuth certificate' "
                "on both hosts, or 'config delprop hotsync TunnelAuth' to let each host's stunnel decide")
    return None


def tls_version_option(stunnel_version: str) -> str:
    """The option that keeps the tunnel on TLS 1.2 or later: ``sslVersionMin`` where stunnel
    knows it, else ``sslVersion`` (exactly 1.2, what OpenSSL 1.0.2 offers at most anyway)."""
    if at_least(stunnel_version, TLS_MINIMUM_SINCE):
        return "sslVersionMin = TLSv1.2"
    return "sslVersion = TLSv1.2"
