"""Why a push could not reach the slave, in words an admin can act on: the one classifier.

rsync alone ends most of these the same way ("failed to connect to 127.0.0.1: Connection
reset by peer", exit 10): what it reaches is this host's own tunnel client, which closes the
connection whatever went wrong further on. The tunnel's log says what did (this run's lines
of ``/var/log/stunnel.log``, read from where it ended before the push); a TCP probe of the
slave's tunnel port tells a host that refuses from one that does not answer when the log says
nothing; rsync's exit and the daemon's ``@ERROR`` line tell the rest. ``explain_push_failure``
returns the sentence; ``push.judge_exit`` puts rsync's own words after it, and the status
record, the mail, ``hotsync status`` and the web API all show that one error.
"""

import re
import socket
from typing import Optional

from ..plan import Plan
from ..root import Root

PROBE_SECONDS = 5.0

# rsync reaching this host's own tunnel client (127.0.0.1) and finding nothing there.
_LOCAL_REFUSED = re.compile(r"failed to connect to 127\.0\.0\.1 .*Connection refused")
# What stunnel (4.56 to 5.x) logs for its connection to the slave.
_REMOTE_REFUSED = re.compile(r"s_connect: connect .*Connection refused")
_REMOTE_SILENT = re.compile(r"s_connect: .*(TIMEOUTconnect exceeded|Connection timed out|"
                            r"No route to host|Network is unreachable)")
_HANDSHAKE_FAILED = re.compile(r"SSL_connect: |SSL routines|certificate verify failed|alert")
_UNKNOWN_MODULE = re.compile(r"@ERROR: Unknown module")
_AUTH_FAILED = re.compile(r"auth failed")
# How rsync 3.1.2 to 3.5 say that the connection closed before the daemon said a word.
_NO_GREETING = re.compile(
    r"did not see server greeting|\(0 bytes received so far\)|safe_read failed to read 1 bytes|"
    r"Connection reset by peer")


def explain_push_failure(plan: Plan, error_output: str, tunnel_log: str) -> str:
    """What stopped the push and what to do, or "" when it is none of the causes known here."""
    slave, port = plan.slave_host, plan.transport.tunnel_port
    if _AUTH_FAILED.search(error_output):
        return ("the slave refused the rsync password: set the same rsyncd password on both hosts (copy it "
                "from one with 'config getprop rsyncd password') and run 'signal-event nethserver-hotsync-save'")
    if _UNKNOWN_MODULE.search(error_output):
        return (f"the slave {slave} takes no push: it is not a HotSync slave any more (promoted, or its role "
                "changed); run 'hotsync status' there, and if it was promoted make this host its slave")
    if _LOCAL_REFUSED.search(error_output):
        return (f"this host's tunnel client (stunnel) does not listen on 127.0.0.1:{plan.transport.rsync_port}: "
                "start it with 'hotsync services start stunnel' (its log is /var/log/stunnel.log)")
    if _REMOTE_REFUSED.search(tunnel_log):
        return refused(slave, port)
    if _REMOTE_SILENT.search(tunnel_log):
        return silent(slave, port)
    if _HANDSHAKE_FAILED.search(tunnel_log):
        return secrets_differ(plan)
    if not _NO_GREETING.search(error_output):
        return ""
    answer = probe(slave, port)
    if answer == "refused":
        return refused(slave, port)
    if answer == "silent":
        return silent(slave, port)
    return tunnel_hint(plan)


def refused(slave: str, port: int) -> str:
    return (f"the slave {slave} refuses connections on port {port}: its tunnel is not running (start it there "
            f"with 'hotsync services start'; 'hotsync status' there says its role) or its firewall rejects {port}")


def silent(slave: str, port: int) -> str:
    return f"the slave {slave} does not answer on port {port} (is it on? is {port} open in its firewall?)"


def secrets_differ(plan: Plan) -> str:
    other = "pre-shared keys" if plan.transport.auth == "psk" else "certificates"
    return ("the slave refused the tunnel: the shared secrets differ. Copy the password from one host to the "
            "other ('config getprop rsyncd password' there, 'config setprop rsyncd password ...' here, then "
            "'signal-event nethserver-hotsync-save'); if they are the same, the hosts authenticate the tunnel "
            f"differently: this one uses {other} ('hotsync status' on each shows its mode, TunnelAuth sets it)")


def tunnel_hint(plan: Plan) -> str:
    """What an admin checks when the tunnel closed before the slave's rsync daemon answered
    and neither the log nor the probe said why."""
    other = "pre-shared keys (stunnel 5.09 or later)" if plan.transport.auth == "psk" else "certificates"
    return (f"the tunnel closed before the slave's rsync daemon answered: check that {plan.slave_host} is up and "
            f"listening on port {plan.transport.tunnel_port}, that both hosts have the same rsyncd password, and "
            f"that both authenticate the tunnel with {other} like this host ('config setprop hotsync TunnelAuth "
            "certificate' on the host with the newer stunnel when only one has 5.09 or later); "
            "the slave's /var/log/stunnel.log says which")


def probe(host: str, port: int, seconds: float = PROBE_SECONDS) -> str:
    """``open``, ``refused`` or ``silent`` (no answer in time, or no route): one TCP connection."""
    try:
        with socket.create_connection((host, port), timeout=seconds):
            return "open"
    except ConnectionRefusedError:
        return "refused"
    except OSError:
        return "silent"


def daemon_answers(local_port: int, seconds: float = PROBE_SECONDS) -> bool:
    """Whether the slave's rsync daemon greets through this host's tunnel client (on
    127.0.0.1:``local_port``): the tunnel and the daemon both answer. Nothing is asked of
    the daemon: the connection closes after its greeting."""
    try:
        with socket.create_connection(("127.0.0.1", local_port), timeout=seconds) as connection:
            return connection.recv(64).startswith(b"@RSYNCD:")
    except OSError:
        return False


def tunnel_log_size(root: Root, host_path: str) -> Optional[int]:
    """Where the tunnel's log ends now (None when there is none), to read this push's lines after it."""
    try:
        return root.path(host_path).stat().st_size
    except OSError:
        return None


def tunnel_log_since(root: Root, host_path: str, offset: Optional[int], limit: int = 1 << 16) -> str:
    """The lines the tunnel logged after ``offset`` (at most ``limit`` bytes; all of a log that was rotated)."""
    try:
        with open(str(root.path(host_path)), "rb") as log:
            log.seek(0, 2)
            end = log.tell()
            start = offset if offset is not None and offset <= end else 0
            log.seek(max(start, end - limit))
            return log.read().decode("utf-8", "replace")
    except OSError:
        return ""
