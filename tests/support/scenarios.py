"""Hosts in the states several test modules start from (fixtures ``slave``, ``master``,
``mailbox``; the sample slave of ``make_slave`` and ``make_synced_files``)."""

import json
import shutil
import time

import pytest
from aiosmtpd.controller import Controller

from hotsync.nethserver.esmith import database_path
from hotsync.root import Root
from hotsync.runtime.backup import make_config_backup
from hotsync.runtime.conditions import InstalledPackages
from hotsync.runtime.status import write_status
from support.hosts import free_port, write_file
from support.passwords import PASSWORD
from support.runner import admin

RECIPIENT = "admin@example.com"
LAST_SUCCESS = 1767258000


ASTERISK_ID = 4242
VMAIL_ID = 4343

TEST_RULES = """
rule tests-mail {
    owner vmail:vmail recursive /srv/vmail/
    owner vmail:vmail recursive /srv/sieve/ matching "*.svbin"
    owner vmail:vmail optional /srv/not-there
}
"""


def make_slave(hotsync, root, accounts=True, packages="nethserver-freepbx 15.0.1\n"):
    """A compiled sandbox slave with FreePBX 'installed' and the test rule file."""
    for arguments in (
        ("install",),
        ("config", "setprop", "hotsync", "role", "slave", "MasterHost", "127.0.0.1"),
        ("config", "setprop", "rsyncd", "password", PASSWORD),
    ):
        outcome = hotsync("--root", root, *arguments)
        assert outcome.code == 0, outcome.err
    write_file(root / "etc/hotsync/rules.d/90-tests.hs", TEST_RULES)
    write_file(root / "var/lib/hotsync/sandbox-packages", packages)
    if accounts:
        write_file(root / "etc/passwd", f"root:x:0:0::/root:/bin/sh\nasterisk:x:{ASTERISK_ID}:{ASTERISK_ID}::/:/sbin/nologin\n"
                                   f"vmail:x:{VMAIL_ID}:{VMAIL_ID}::/:/sbin/nologin\n")
        write_file(root / "etc/group", f"root:x:0:\nasterisk:x:{ASTERISK_ID}:\nvmail:x:{VMAIL_ID}:\n")
    outcome = hotsync("--root", root, "compile")
    assert outcome.code == 0, outcome.err


def make_synced_files(root):
    """What a sync from the master leaves: owned by root, cron jobs executable."""
    for name in ("etc/freepbx.conf", "etc/amportal.conf", "etc/asterisk/sip.conf",
                 "var/lib/asterisk/db/astdb", "var/www/html/freepbx/index.php"):
        write_file(root / name, "x\n")
    write_file(root / "srv/vmail/user/cur/mail1", "hello\n")
    write_file(root / "srv/sieve/user/default.sieve", "keep;\n")
    write_file(root / "srv/sieve/user/default.svbin", "binary\n")
    for job in ("cron.hourly/0anacron", "cron.daily/logrotate", "cron.weekly/report", "cron.monthly/cleanup"):
        write_file(root / "etc" / job, "#!/bin/sh\n", 0o755)
    write_file(root / "etc/cron.daily/jobs.deny", "", 0o644)
    for name in ("backup-data", "dante", "queuereport", "hotsync"):
        write_file(root / "etc/cron.d" / name, "# job\n")


@pytest.fixture
def slave(make_host):
    """A sandbox slave holding a master's synced backup, cron jobs and marker (its root);
    its daemons are stopped afterwards."""
    master = make_host("master", "master", in_process=True).root
    admin(master, "config", "set", "webapp", "service", "status", "enabled", "TCPPort", "8080", in_process=True)
    write_file(database_path(Root(master), "networks"), "eth0=ethernet|ipaddr|192.168.1.1|role|green\n")
    make_config_backup(Root(master), InstalledPackages(Root(master)))

    slave = make_host("slave", "slave", tunnel_port=free_port(), rsync_port=free_port(), in_process=True).root
    write_file(database_path(Root(slave), "networks"), "eth0=ethernet|ipaddr|192.168.1.2|role|green\n")
    admin(slave, "compile", in_process=True)
    shutil.copytree(master / "var/lib/nethserver/backup", slave / "var/lib/nethserver/backup")
    write_file(slave / "etc/cron.daily/logrotate", "#!/bin/sh\n", 0o644)
    write_file(slave / "etc/cron.daily/jobs.deny", "", 0o644)
    synced = int(time.time()) - 600
    write_file(slave / "var/lib/nethserver/hotsync/slave-marker.json",
               json.dumps({"last_success_epoch": synced, "finished_epoch": synced, "result": "ok"}))
    return slave


@pytest.fixture
def master(sandbox, make_host):
    """A compiled master that mails its failures and whose last run went well (its root)."""
    make_host(root=sandbox, role="master", tunnel_port=free_port(), settings=("NotifyTo", RECIPIENT), in_process=True)
    admin(sandbox, "compile", "--quiet", in_process=True)
    write_status(Root(sandbox), {"finished": "2026-01-01T09:00:00+0000", "result": "ok", "errors": [],
                                 "last_success": "2026-01-01T09:00:00+0000", "last_success_epoch": LAST_SUCCESS,
                                 "guard": {"files_total": 7, "nonempty_roots": ["/etc/"], "armed": True}})
    return sandbox


class Mailbox:
    """An SMTP server's handler that keeps each message it receives: (recipients, text)."""

    def __init__(self):
        self.messages = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append((envelope.rcpt_tos, envelope.content.decode("utf-8", "replace")))
        return "250 OK"


@pytest.fixture
def mailbox(monkeypatch):
    """A real SMTP server on loopback that HotSync's failure mail goes to (HOTSYNC_SMTP_SERVER)."""
    box = Mailbox()
    port = free_port()
    controller = Controller(box, hostname="127.0.0.1", port=port)
    controller.start()
    monkeypatch.setenv("HOTSYNC_SMTP_SERVER", f"127.0.0.1:{port}")
    yield box
    controller.stop()
