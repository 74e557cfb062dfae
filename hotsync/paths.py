"""The host paths HotSync writes, guards or reads beside NethServer, each spelled once; and
the check of a host path an admin writes.

Every module asks ``root.path(paths.X)`` for the real location. The generated-files table
(``compiler/render.py``) and the built-in excludes (``runtime/lists.py``) are built from these
names, so a file the compiler writes is the same file a push never carries to the other host.
"""

from typing import Optional

# --- the files the compiler generates, each for one host and one role
HOTSYNC_CONF = "/etc/hotsync.conf"
RSYNCD_CONF = "/etc/rsyncd.conf"
RSYNCD_SECRETS = "/etc/rsyncd.secrets"
RSYNC_PASSWORD = "/etc/hotsync/rsync.password"  # the password alone, for rsync --password-file
STUNNEL_FOLDER = "/etc/stunnel"
STUNNEL_CONF = f"{STUNNEL_FOLDER}/stunnel.conf"
STUNNEL_PSK = f"{STUNNEL_FOLDER}/hotsync.psk"
STUNNEL_CERTIFICATE = f"{STUNNEL_FOLDER}/hotsync-tunnel.pem"  # derived from the password, as the PSK
STUNNEL_KEY = f"{STUNNEL_FOLDER}/hotsync-tunnel.key"
CRON_FILE = "/etc/cron.d/hotsync"
# A fenced rsync daemon's greeting (in the state folder: no push carries it).
RSYNCD_MOTD = "/var/lib/nethserver/hotsync/rsyncd.motd"

# --- the admin's rules and plugins (they travel: a promoted slave keeps them)
RULES_FOLDER = "/etc/hotsync"
PLUGIN_FOLDER = "/etc/hotsync.d"

# --- HotSync's own state, one per host
STATE_FOLDER = "/var/lib/nethserver/hotsync"  # plan, status, marker, fence, promotion
RUN_FOLDER = "/var/run/nethserver-hotsync"  # LastSyncTS, as the original
JOBS_FOLDER = f"{RUN_FOLDER}/jobs"  # a sandbox's background runs (NethServer's are systemd units)
# On the slave, the pushes its daemon runs (one empty file per RSYNC_PID) and the lock that
# noting them and sealing restore points share (see runtime/sealing.py).
TRANSFERS_FOLDER = f"{RUN_FOLDER}/transfers"
POINTS_LOCK_PATH = f"{RUN_FOLDER}/restore-points.lock"
SANDBOX_FOLDER = "/var/lib/hotsync"  # what a sandbox host declares about itself
LOCK_PATH = "/var/lock/hotsync.lock"
LOG_PATH = "/var/log/hotsync.log"
# node_exporter's textfile collector folder, as its packages for EL7 make it (a setting may change it)
METRICS_FOLDER = "/var/lib/node_exporter/textfile_collector"
METRICS_FILE_NAME = "hotsync.prom"

# --- the daemons' own files
RSYNCD_PID = "/var/run/rsyncd.pid"
RSYNCD_LOCK = "/var/run/rsyncd.lock"
RSYNCD_LOG = "/var/log/rsyncd.log"
STUNNEL_PID = "/var/run/stunnel.pid"
STUNNEL_LOG = "/var/log/stunnel.log"
# EL7's stunnel package ships no systemd unit: HotSync brings one where the host has none.
STUNNEL_PROGRAM = "/usr/bin/stunnel"
STUNNEL_UNIT = "/usr/lib/systemd/system/stunnel.service"
LOCAL_STUNNEL_UNIT = "/etc/systemd/system/stunnel.service"
# The master's continuous push (``hotsync watch``) as a service, when hotsync Mode is continuous.
WATCH_UNIT = "/usr/lib/systemd/system/hotsync-watch.service"
WATCH_LOG = "/var/log/hotsync-watch.log"  # a sandbox root's supervisor only

# --- NethServer's
BACKUP_FOLDER = "/var/lib/nethserver/backup"
DATABASE_FOLDER = "/var/lib/nethserver/db"  # the e-smith databases
EVENTS_FOLDER = "/etc/e-smith/events"
RESTORE_TOOL = "/sbin/e-smith/restore-config"  # restores the configuration backup, runs the restore events
TEMPLATES_FOLDER = "/etc/e-smith/templates"  # e-smith template fragments, one folder per file
SIGNAL_EVENT_TOOL = "/sbin/e-smith/signal-event"  # NethServer's own events runner
# nethserver-backup-config's action: the current configuration backup into the restore history
PUSH_TO_HISTORY_ACTION = f"{EVENTS_FOLDER}/actions/nethserver-backup-config-push2history"
VPN_DATABASE = f"{DATABASE_FOLDER}/vpn"  # made by the VPN packages' update events
# yum's plugin that configures each package it installs (nethserver-yum); off on a slave
YUM_EVENTS_PLUGIN_CONF = "/etc/yum/pluginconf.d/nethserver_events.conf"
LOG_FOLDER = "/var/log"
# NethServer's web UI: API executables (run through sudo), the app, its entry in the app list
API_FOLDER = "/usr/libexec/nethserver/api/nethserver-hotsync"
API_SUDOERS = "/etc/sudoers.d/50_nsapi_nethserver_hotsync"
COCKPIT_APP_FOLDER = "/usr/share/cockpit/nethserver-hotsync"
COCKPIT_APP_ENTRY = "/usr/share/cockpit/nethserver/applications/nethserver-hotsync.json"


def as_folder(path: str) -> str:
    """``path`` as an rsync pattern that matches the folder (and so everything in it)."""
    return path.rstrip("/") + "/"


def host_path_problem(text: str) -> Optional[str]:
    """Why ``text`` is not a host path written from the root without going up, or None.

    The words complete a sentence that starts with the path: "path 'x' is relative: ..."."""
    if not text.startswith("/"):
        return "is relative: write it from the root, starting with '/'"
    if ".." in text.split("/"):
        return "contains '..': write it without going up"
    return None
