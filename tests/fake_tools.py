"""Stand-ins for ``stunnel -version`` on PATH, so a test can choose the stunnel version the
compiler finds without installing it. Only for compiling: a daemon started while one is on
PATH would be the stand-in."""

import os
from pathlib import Path

# What ``stunnel -version`` prints on NethServer 7 (on stderr; it then fails to read the
# default configuration file and exits 1).
STUNNEL_456_OUTPUT = """\
stunnel 4.56 on x86_64-redhat-linux-gnu platform
Compiled/running with OpenSSL 1.0.2k-fips  26 Jan 2017
Threading:PTHREAD Sockets:POLL,IPv6 SSL:ENGINE,OCSP,FIPS Auth:LIBWRAP
 
Global options:
debug                  = daemon.notice
pid                    = /var/run/stunnel.pid
RNDbytes               = 64
RNDfile                = /dev/urandom
RNDoverwrite           = yes
 
Service-level options:
ciphers                = FIPS
curve                  = prime256v1
session                = 300 seconds
sslVersion             = TLSv1 for client, all for server
stack                  = 65536 bytes
TIMEOUTbusy            = 300 seconds
TIMEOUTclose           = 60 seconds
TIMEOUTconnect         = 10 seconds
TIMEOUTidle            = 43200 seconds
verify                 = none
"""


def stunnel_output(version: str) -> str:
    """``stunnel -version``'s first lines for ``version`` (as 5.x prints them)."""
    return (f"stunnel {version} on x86_64-pc-linux-gnu platform\n"
            "Compiled with OpenSSL 3.0.9 30 May 2023\nRunning  with OpenSSL 3.0.22 25 Aug 2026\n")


def install_fake_stunnel(folder: Path, output: str, exit_code: int = 0) -> Path:
    """A folder holding ``stunnel`` and ``stunnel4`` that print ``output`` on stderr and exit
    ``exit_code``; put it first on PATH."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "version.txt").write_text(output)
    for name in ("stunnel", "stunnel4"):
        script = folder / name
        script.write_text(f"#!/bin/sh\ncat '{folder}/version.txt' >&2\nexit {exit_code}\n")
        script.chmod(0o755)
    return folder


def path_with(folder: Path) -> str:
    """PATH with ``folder`` first."""
    return f"{folder}{os.pathsep}{os.environ.get('PATH', '')}"


# ----------------------------------------------------------------------------- NethServer's tools
#
# Recording stand-ins inside a sandbox root, where the platform seam looks for them: each one
# appends a line (its name, its arguments) to ROOT/calls.log, so a test reads which tools ran,
# in which order and with which arguments.

CALLS_LOG = "calls.log"
RESTORE_CONFIG = "sbin/e-smith/restore-config"
BACKUP_ARCHIVE = "var/lib/nethserver/backup/backup-config.tar.xz"
NETWORKS_DATABASE = "var/lib/nethserver/db/networks"


def _record_line(name: str) -> str:
    return f'echo "{name} $*" >> "$HOTSYNC_ROOT/{CALLS_LOG}"\n'


def install_recording_restore_config(root: Path, exit_code: int = 0) -> Path:
    """A stand-in for NethServer's restore-config: records its call, unpacks the whole
    configuration backup over the root as the real one's restore-config-execute does (with
    ``--skip-network``, this host's networks database is kept, as its restore events keep its
    cards), prints its stage lines and exits ``exit_code`` (1 after a failed
    post-restore-config, as it does)."""
    tool = root / RESTORE_CONFIG
    tool.parent.mkdir(parents=True, exist_ok=True)
    ending = ('echo "Event post-restore-config: FAIL"\necho "Restore status: FAIL"\nexit 1\n' if exit_code
              else 'echo "Event post-restore-config: SUCCESS"\n')
    tool.write_text("#!/bin/sh\n" + _record_line("restore-config")
                    + 'echo "Restore config started"\n'
                    + f'networks="$HOTSYNC_ROOT/{NETWORKS_DATABASE}"\n'
                    + 'case " $* " in *" --skip-network "*) cp -p "$networks" "$networks.kept";; esac\n'
                    + f'tar -C "$HOTSYNC_ROOT" -xf "$HOTSYNC_ROOT/{BACKUP_ARCHIVE}" || exit 1\n'
                    + 'if [ -f "$networks.kept" ]; then mv "$networks.kept" "$networks"; fi\n'
                    + 'echo "Action restore-config-execute: SUCCESS"\n' + ending)
    tool.chmod(0o755)
    return tool


def install_recording_action(root: Path, event: str, name: str = "S99zz-record", body: str = "") -> Path:
    """An action of ``event`` in the root's events folder that records the event (and its
    arguments) when it runs, then runs the shell lines ``body``."""
    action = root / "etc/e-smith/events" / event / name
    action.parent.mkdir(parents=True, exist_ok=True)
    action.write_text("#!/bin/sh\n" + _record_line("signal-event") + body)
    action.chmod(0o755)
    return action


def recorded_calls(root: Path) -> list:
    """The calls the stand-ins recorded, in order."""
    log = root / CALLS_LOG
    return log.read_text().splitlines() if log.exists() else []
