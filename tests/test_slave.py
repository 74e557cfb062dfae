"""``hotsync-slave`` on a sandbox slave: owners by the root's own names, cron jobs, packages."""

import io
import hashlib
import os
import socket
import stat
import tarfile

import pytest

from helpers import run_hotsync_process

PASSWORD = "correct-horse-battery"
ASTERISK_ID = 4242
VMAIL_ID = 4343

TEST_RULES = """
rule tests-mail {
    owner vmail:vmail recursive /srv/vmail/
    owner vmail:vmail recursive /srv/sieve/ matching "*.svbin"
    owner vmail:vmail optional /srv/not-there
}
"""


def write(path, text, mode=0o644):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    os.chmod(path, mode)
    return path


def make_slave(hotsync, root, accounts=True, packages="nethserver-freepbx 15.0.1\n"):
    """A compiled sandbox slave with FreePBX 'installed' and the test rule file."""
    for arguments in (
        ("install",),
        ("config", "setprop", "hotsync", "role", "slave", "MasterHost", "127.0.0.1"),
        ("config", "setprop", "rsyncd", "password", PASSWORD),
    ):
        outcome = hotsync("--root", root, *arguments)
        assert outcome.code == 0, outcome.err
    write(root / "etc/hotsync/rules.d/90-tests.hs", TEST_RULES)
    write(root / "var/lib/hotsync/sandbox-packages", packages)
    if accounts:
        write(root / "etc/passwd", f"root:x:0:0::/root:/bin/sh\nasterisk:x:{ASTERISK_ID}:{ASTERISK_ID}::/:/sbin/nologin\n"
                                   f"vmail:x:{VMAIL_ID}:{VMAIL_ID}::/:/sbin/nologin\n")
        write(root / "etc/group", f"root:x:0:\nasterisk:x:{ASTERISK_ID}:\nvmail:x:{VMAIL_ID}:\n")
    outcome = hotsync("--root", root, "compile")
    assert outcome.code == 0, outcome.err


def make_synced_files(root):
    """What a sync from the master leaves: owned by root, cron jobs executable."""
    for name in ("etc/freepbx.conf", "etc/amportal.conf", "etc/asterisk/sip.conf",
                 "var/lib/asterisk/db/astdb", "var/www/html/freepbx/index.php"):
        write(root / name, "x\n")
    write(root / "srv/vmail/user/cur/mail1", "hello\n")
    write(root / "srv/sieve/user/default.sieve", "keep;\n")
    write(root / "srv/sieve/user/default.svbin", "binary\n")
    for job in ("cron.hourly/0anacron", "cron.daily/logrotate", "cron.weekly/report", "cron.monthly/cleanup"):
        write(root / "etc" / job, "#!/bin/sh\n", 0o755)
    write(root / "etc/cron.daily/jobs.deny", "", 0o644)
    for name in ("backup-data", "dante", "queuereport", "hotsync"):
        write(root / "etc/cron.d" / name, "# job\n")


def owner_of(path):
    status = os.lstat(path)
    return status.st_uid, status.st_gid


def test_fixperm_gives_synced_paths_their_owners_and_disables_cron_jobs(hotsync, sandbox):
    make_slave(hotsync, sandbox)
    make_synced_files(sandbox)
    # a synced link pointing outside the tree must not hand its target to a service user
    outside = write(sandbox.parent / "outside.txt", "not ours\n")
    os.symlink(outside, sandbox / "var/lib/asterisk/escape")

    outcome = hotsync("--root", sandbox, "slave", "fixperm")

    assert outcome.code == 0, outcome.err
    asterisk = (ASTERISK_ID, ASTERISK_ID)
    for name in ("etc/freepbx.conf", "etc/amportal.conf", "etc/asterisk", "etc/asterisk/sip.conf",
                 "var/lib/asterisk/db/astdb", "var/www/html/freepbx/index.php", "var/lib/asterisk/escape"):
        assert owner_of(sandbox / name) == asterisk, name
    assert owner_of(outside) == (0, 0)
    assert owner_of(sandbox / "srv/vmail/user/cur/mail1") == (VMAIL_ID, VMAIL_ID)
    # 'matching': only the compiled sieve scripts
    assert owner_of(sandbox / "srv/sieve/user/default.svbin") == (VMAIL_ID, VMAIL_ID)
    assert owner_of(sandbox / "srv/sieve/user/default.sieve") == (0, 0)
    assert owner_of(sandbox / "srv/sieve/user") == (0, 0)
    # cron: master-only files gone, periodic jobs not executable, HotSync's own schedule kept
    for name in ("backup-data", "dante", "queuereport"):
        assert not (sandbox / "etc/cron.d" / name).exists()
    assert (sandbox / "etc/cron.d/hotsync").exists()
    for job in ("cron.hourly/0anacron", "cron.daily/logrotate", "cron.weekly/report", "cron.monthly/cleanup"):
        assert stat.S_IMODE(os.stat(sandbox / "etc" / job).st_mode) == 0o644, job
    assert "absent, optional: /srv/not-there" in outcome.out
    assert "made 4 job(s) non-executable" in outcome.out

    again = hotsync("--root", sandbox, "slave", "fixperm")
    assert again.code == 0
    assert "0 path(s) given to asterisk:asterisk" in again.out


def test_missing_user_is_a_named_failure_counted_in_the_exit_status(hotsync, sandbox):
    make_slave(hotsync, sandbox)
    make_synced_files(sandbox)
    write(sandbox / "etc/passwd", f"root:x:0:0::/root:/bin/sh\nvmail:x:{VMAIL_ID}:{VMAIL_ID}::/:/sbin/nologin\n")

    outcome = run_hotsync_process("--root", sandbox, "fixperm", program="hotsync-slave")

    # the three FreePBX owner statements fail, the mail ones still run
    assert outcome.code == 3, outcome.err
    assert outcome.err.count("user 'asterisk' does not exist in /etc/passwd of this host") == 3
    assert "FAILED owner asterisk:asterisk /etc/freepbx.conf /etc/amportal.conf" in outcome.err
    assert "3 step(s) failed" in outcome.err
    assert "Traceback" not in outcome.err
    assert owner_of(sandbox / "srv/vmail/user/cur/mail1") == (VMAIL_ID, VMAIL_ID)


def test_missing_required_path_is_named(hotsync, sandbox):
    make_slave(hotsync, sandbox)
    make_synced_files(sandbox)
    (sandbox / "etc/amportal.conf").unlink()

    outcome = hotsync("--root", sandbox, "slave", "fixperm")

    assert outcome.code == 1
    assert "missing: /etc/amportal.conf" in outcome.err


def make_master_backup(root, package_names):
    """The configuration backup a master pushes: package list inside, with its .md5."""
    buffer = io.BytesIO()
    content = "".join(f"{name}\n" for name in package_names).encode()
    with tarfile.open(fileobj=buffer, mode="w:xz") as archive:
        member = tarfile.TarInfo("var/lib/nethserver/backup/package-list")
        member.size = len(content)
        archive.addfile(member, io.BytesIO(content))
    data = buffer.getvalue()
    folder = root / "var/lib/nethserver/backup"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "backup-config.tar.xz").write_bytes(data)
    (folder / "backup-config.tar.xz.md5").write_text(f"{hashlib.md5(data).hexdigest()}  backup-config.tar.xz\n")


def closed_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_unreachable_repositories_are_a_warning_not_a_failure(hotsync, sandbox):
    make_slave(hotsync, sandbox)
    make_synced_files(sandbox)
    make_master_backup(sandbox, ["nethserver-freepbx", "nethserver-cups"])
    write(sandbox / "etc/yum.repos.d/nethserver.repo",
          f"[nethserver-base]\nname=base\nbaseurl=http://127.0.0.1:{closed_port()}/7/base/\nenabled=1\n")

    outcome = run_hotsync_process("--root", sandbox, program="hotsync-slave")

    assert outcome.code == 0, outcome.err
    assert "Cannot download packages" in outcome.err
    assert "nethserver-cups" in outcome.err
    assert "nethserver-cups" not in (sandbox / "var/lib/hotsync/sandbox-packages").read_text()
    # the other steps still ran
    assert stat.S_IMODE(os.stat(sandbox / "etc/cron.daily/logrotate").st_mode) == 0o644


def test_reachable_repositories_install_the_missing_packages(hotsync, sandbox):
    make_slave(hotsync, sandbox)
    make_synced_files(sandbox)
    make_master_backup(sandbox, ["nethserver-freepbx", "nethserver-cups"])
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        write(sandbox / "etc/yum.repos.d/nethserver.repo",
              f"[off]\nbaseurl=http://127.0.0.1:{closed_port()}/\nenabled=0\n"
              f"[nethserver-base]\nbaseurl=http://127.0.0.1:{server.getsockname()[1]}/7/base/\n")
        outcome = hotsync("--root", sandbox, "slave")

    assert outcome.code == 0, outcome.err
    assert "installed (sandbox: recorded in /var/lib/hotsync/sandbox-packages): nethserver-cups" in outcome.out
    lines = (sandbox / "var/lib/hotsync/sandbox-packages").read_text().splitlines()
    assert lines == ["nethserver-freepbx 15.0.1", "nethserver-cups"]
    again = hotsync("--root", sandbox, "slave")
    assert "all 2 package(s) of the master are installed" in again.out


def test_damaged_backup_is_a_failure(hotsync, sandbox):
    make_slave(hotsync, sandbox)
    make_synced_files(sandbox)
    make_master_backup(sandbox, ["nethserver-freepbx"])
    (sandbox / "var/lib/nethserver/backup/backup-config.tar.xz.md5").write_text("0" * 32 + "  backup-config.tar.xz\n")

    outcome = hotsync("--root", sandbox, "slave")

    assert outcome.code == 1
    assert "does not match its checksum" in outcome.err


def test_slave_upkeep_refuses_on_a_master(hotsync, sandbox):
    make_slave(hotsync, sandbox)
    hotsync("--root", sandbox, "config", "setprop", "hotsync", "role", "master", "SlaveHost", "127.0.0.1")
    assert hotsync("--root", sandbox, "compile").code == 0
    make_synced_files(sandbox)

    outcome = hotsync("--root", sandbox, "slave", "fixperm")

    assert outcome.code == 1
    assert "this host is not a slave (role: master)" in outcome.err
    assert stat.S_IMODE(os.stat(sandbox / "etc/cron.daily/logrotate").st_mode) == 0o755


@pytest.mark.parametrize("arguments", [("slave", "nonsense"), ("slave", "fixperm", "extra")])
def test_usage_errors(hotsync, sandbox, arguments):
    assert hotsync("--root", sandbox, *arguments).code == 2
