"""Failure mail through the local SMTP server, when the plan names a recipient.

stderr already reaches root through cron; the mail is for an admin who reads another
mailbox. A mail that cannot be sent is reported, never fatal. The server is the local one
(``localhost:25``); ``HOTSYNC_SMTP_SERVER=host:port`` points elsewhere (tests, relays).
"""

import os
from typing import TYPE_CHECKING, Sequence, Tuple

from ..digits import ascii_number

if TYPE_CHECKING:  # building a mail is for failing runs only; the import costs every run ~50 ms
    from email.message import EmailMessage

SMTP_SERVER_VARIABLE = "HOTSYNC_SMTP_SERVER"
DEFAULT_SMTP_SERVER = ("localhost", 25)
SMTP_TIMEOUT_SECONDS = 30


def smtp_server() -> Tuple[str, int]:
    """The SMTP server to use: ``$HOTSYNC_SMTP_SERVER`` (``host:port``) or localhost:25."""
    setting = os.environ.get(SMTP_SERVER_VARIABLE, "")
    if not setting:
        return DEFAULT_SMTP_SERVER
    host, _, port = setting.rpartition(":")
    number = ascii_number(port, 5)
    return (host or "localhost", number) if number is not None else (setting, 25)


def build_failure_mail(recipient: str, slave_host: str, errors: Sequence[str], started: str,
                       outcome: str = "failed") -> "EmailMessage":
    """The failure mail: subject names the host pair, body lists every error."""
    from email.message import EmailMessage

    hostname = os.uname().nodename
    message = EmailMessage()
    message["From"] = f"root@{hostname}"
    message["To"] = recipient
    message["Subject"] = f"HotSync {outcome} on {hostname} (slave {slave_host})"
    lines = [f"The HotSync run started at {started} on {hostname} {outcome}:", ""]
    lines += [f"  - {error}" for error in errors]
    lines += ["", "Run 'hotsync status' on this host for details."]
    message.set_content("\n".join(lines) + "\n")
    return message


def send_failure_mail(recipient: str, slave_host: str, errors: Sequence[str], started: str,
                      outcome: str = "failed") -> str:
    """Send the failure mail; "" when sent, else why it was not."""
    return send_message(recipient, build_failure_mail(recipient, slave_host, errors, started, outcome))


FRESHNESS_SUBJECTS = {
    "warning": "HotSync: the copy on {host} is late",
    "critical": "HotSync: the copy on {host} is stale",
    "ok": "HotSync: the copy on {host} is fresh again",
}


def build_freshness_mail(recipient: str, state: str, message: str) -> "EmailMessage":
    """The mail a change of the copy's freshness sends (``state``: ok, warning or critical)."""
    from email.message import EmailMessage

    hostname = os.uname().nodename
    mail = EmailMessage()
    mail["From"] = f"root@{hostname}"
    mail["To"] = recipient
    mail["Subject"] = FRESHNESS_SUBJECTS[state].format(host=hostname)
    mail.set_content(f"HotSync on {hostname}: {message}\n\nRun 'hotsync status' on this host for details.\n")
    return mail


def send_message(recipient: str, message: "EmailMessage") -> str:
    """Send ``message``; "" when sent, else why it was not."""
    import smtplib  # only a failing run needs it; importing costs every run about 20 ms

    host, port = smtp_server()
    try:
        with smtplib.SMTP(host, port, timeout=SMTP_TIMEOUT_SECONDS) as client:
            client.send_message(message)
    except (OSError, smtplib.SMTPException) as error:
        return f"could not mail {recipient} through {host}:{port}: {error}"
    return ""
