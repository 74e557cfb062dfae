"""The push's command line and how each rsync outcome is judged (pytest-subprocess fakes rsync)."""

from pathlib import Path

import pytest

from hotsync.frozen import replace
from hotsync.plan import Limits, PathEntry, Plan, Rule, Transport, save_plan
from hotsync.root import Root
from hotsync.runtime.push import build_push_command, parse_changes, parse_stats, push_tree
from hotsync.tool_versions import ToolVersions

STATS = """
Number of files: 1,234 (reg: 1,000, dir: 234)
Number of created files: 3
Number of deleted files: 2 (reg: 2)
Number of regular files transferred: 17
Total file size: 9,999,999 bytes
Total transferred file size: 123,456 bytes
Total bytes sent: 7,890
Total bytes received: 12
"""


def master_plan(**changes) -> Plan:
    plan = Plan(version=1, source_hash="", role="master", enabled=True, databases_enabled=True,
                slave_host="10.0.0.2", transport=Transport(rsync_port=1873),
                rules=(Rule("base", "b:1:1", include=(PathEntry("/srv"),)),))
    return replace(plan, **changes)


@pytest.fixture
def master(sandbox) -> Root:
    root = Root(sandbox)
    password = root.path("/etc/hotsync/rsync.password")
    password.parent.mkdir(parents=True)
    password.write_text("secret-password-1\n")
    password.chmod(0o600)
    (sandbox / "srv").mkdir()
    (sandbox / "srv/file").write_text("x")
    return root


def test_the_default_command_line(master):
    argv = build_push_command(master, master_plan(), Path("/w/inc"), Path("/w/exc"),
                              push_name="20261201T201500.000000Z-42")
    assert argv == [
        "rsync", "-r", "-a", "-H", "-A", "--delete-delay", "--info=del", "--files-from=/w/inc", "--exclude-from=/w/exc",
        # the slave keeps what the push replaces or deletes, in a folder of this push: its restore point
        "--backup", "--backup-dir=var/lib/nethserver/hotsync/restore-points/incoming/20261201T201500.000000Z-42",
        "--timeout=600", f"--password-file={master.base}/etc/hotsync/rsync.password", "--sockopts=TCP_NODELAY",
        "--stats",
        f"{master.base}/", "rsync://hotsyncuser@127.0.0.1:1873/hotsync/",
    ]
    assert not any("secret" in argument for argument in argv)
    without_points = build_push_command(master, master_plan(restore_points=False), Path("/w/inc"), Path("/w/exc"))
    assert [argument for argument in argv if "backup" not in argument] == without_points


def test_a_bandwidth_cap_is_passed_in_kib_per_second(master):
    argv = build_push_command(master, master_plan(limits=Limits(bwlimit=512)), Path("/w/inc"), Path("/w/exc"))
    assert "--bwlimit=512" in argv
    assert not any(argument.startswith("--bwlimit") for argument in build_push_command(
        master, master_plan(), Path("/w/inc"), Path("/w/exc")))


def test_options_for_compression_guard_dry_run_and_progress(master):
    plan = master_plan(compress=True, limits=Limits(io_timeout=30))
    argv = build_push_command(master, plan, Path("/w/inc"), Path("/w/exc"), guard_file=Path("/w/guard"),
                              max_delete=7, dry_run=True)
    assert argv[7:11] == ["--files-from=/w/inc", "--filter=merge /w/guard", "--exclude-from=/w/exc", "--max-delete=7"]
    assert "-z" in argv and "--timeout=30" in argv
    assert argv[-4:-2] == ["--dry-run", "--itemize-changes"]
    assert argv[-1] == "rsync://hotsyncuser@127.0.0.1:1873/hotsync-preview/"  # the slave stamps no marker
    progress = build_push_command(master, replace(plan, tools=ToolVersions(rsync="3.5.0")), Path("/w/inc"),
                                  Path("/w/exc"), progress=True)
    assert "--info=progress2" in progress and "--dry-run" not in progress


@pytest.mark.parametrize("version", ["3.1.2", "3.5.0", ""])
def test_no_option_means_something_else_on_rsync_3_1_2(master, version):
    """rsync 3.1.2 (NethServer 7) reads --modify-window=-1 as "every two times are equal" and
    knows no --early-input: whichever rsync the plan recorded, the push sends neither, since
    the slave's rsync (which applies them) may be 3.1.2."""
    plan = master_plan(tools=ToolVersions(rsync=version))
    for variant in ({}, {"dry_run": True}, {"progress": True}):
        argv = build_push_command(master, plan, Path("/w/inc"), Path("/w/exc"),
                                  generation_options=["--checksum-seed=3"], **variant)
        assert not [argument for argument in argv if argument.startswith(("--modify-window", "--early-input"))]
        assert "--checksum-seed=3" in argv


def test_progress_is_one_overall_percentage_from_rsync_3_1_0(master):
    def shown(version):
        argv = build_push_command(master, master_plan(tools=ToolVersions(rsync=version)), Path("/w/inc"),
                                  Path("/w/exc"), progress=True)
        return [argument for argument in argv if argument.startswith(("--info=progress", "--progress", "--no-inc"))]

    assert shown("3.1.2") == shown("3.5.0") == ["--info=progress2", "--no-inc-recursive"]
    assert shown("3.0.9") == shown("") == ["--progress"]  # older (or unknown): file by file


def test_root_slash_is_the_source_for_a_real_host():
    argv = build_push_command(Root(Path("/")), master_plan(), Path("/w/inc"), Path("/w/exc"))
    assert argv[-2] == "/"


def test_deletions_a_receiving_rsync_3_1_2_does_not_count_are_counted_from_its_lines():
    output = "deleting srv/old/\ndeleting srv/old/a.txt\ndeleting srv/deleting me.txt\n" + STATS.replace(
        "Number of deleted files: 2 (reg: 2)", "Number of deleted files: 0")
    assert parse_stats(output).files_deleted == 3
    assert parse_stats("deleting srv/a\n" + STATS).files_deleted == 2  # rsync's own count, when it gives one


def test_stats_and_itemized_changes_are_read():
    stats = parse_stats(STATS)
    assert (stats.files_total, stats.files_transferred, stats.files_deleted) == (1234, 17, 2)
    assert (stats.bytes_transferred, stats.bytes_sent) == (123456, 7890)
    changes = parse_changes(">f+++++++++ srv/new.txt\n*deleting   srv/old.txt\ncd+++++++++ srv/dir/\n" + STATS)
    assert changes == (">f+++++++++ /srv/new.txt", "*deleting   /srv/old.txt", "cd+++++++++ /srv/dir/")


def run_push(fp, master, returncode, stderr="", stdout=STATS, plan=None):
    plan = plan or master_plan()
    argv = build_push_command(master, plan, Path("/w/inc"), Path("/w/exc"), max_delete=5)
    fp.register(argv, stdout=stdout, stderr=stderr, returncode=returncode)
    return push_tree(master, plan, argv, max_delete=5)


def test_vanished_files_are_a_success_with_a_warning(fp, master):
    stderr = f'file has vanished: "{master.base}/srv/tmp/sess_1"\nrsync warning: some files vanished (code 24)\n'
    result = run_push(fp, master, 24, stderr)
    assert result.completed and result.errors == ()
    assert result.warnings == ("1 file(s) vanished during the transfer (normal on a live server): /srv/tmp/sess_1",)


def test_a_partial_transfer_is_a_failure_naming_the_files(fp, master):
    stderr = (f'rsync: [sender] send_files failed to open "{master.base}/srv/locked.db": Permission denied (13)\n'
              f'rsync: [sender] read errors mapping "{master.base}/srv/bad.img": Input/output error (5)\n'
              "rsync error: some files/attrs were not transferred (code 23)\n")
    result = run_push(fp, master, 23, stderr)
    assert result.errors == ("some files could not be transferred (rsync exit 23): /srv/locked.db, /srv/bad.img",)


def test_a_stalled_transfer_is_reported_with_the_timeout(fp, master):
    result = run_push(fp, master, 30, "[sender] io timeout after 600 seconds -- exiting\n")
    assert not result.completed
    assert result.errors[0].startswith("the transfer stalled for more than 600 s and was stopped: ")


def test_any_other_failure_carries_rsyncs_own_message(fp, master):
    result = run_push(fp, master, 11, 'rsync: [receiver] write failed on "/srv/big.img": No space left on device (28)\n'
                                      "rsync error: error in file IO (code 11)\n", stdout="")
    assert result.errors == ('rsync failed (exit 11): rsync: [receiver] write failed on "/srv/big.img": No space left '
                             "on device (28) / rsync error: error in file IO (code 11)",)


@pytest.mark.parametrize("stderr", [
    # rsync 3.1.2 (NethServer 7), then 3.5, when the tunnel's TLS handshake fails
    "rsync: connection unexpectedly closed (0 bytes received so far) [sender]\n"
    "rsync error: error in rsync protocol data stream (code 12)\n",
    "rsync: [sender] safe_read failed to read 1 bytes: Connection reset by peer (104)\n"
    "rsync error: error in rsync protocol data stream (code 12) at io.c(340) [sender=3.5.0]\n",
])
def test_a_tunnel_that_closes_before_the_daemon_answers_says_what_to_check(fp, master, stderr, monkeypatch):
    from hotsync.runtime import diagnose

    # The slave's port answers (no test sends a packet to 10.0.0.2), and the tunnel logged nothing.
    monkeypatch.setattr(diagnose, "probe", lambda host, port: "open")
    result = run_push(fp, master, 12, stderr, stdout="")
    (error,) = result.errors
    assert error.startswith("the tunnel closed before the slave's rsync daemon answered: check that ")
    assert "the same rsyncd password" in error and "TunnelAuth" in error
    assert " [rsync failed (exit 12): rsync: " in error


def test_the_delete_cap_is_recognised_by_its_message_even_with_exit_0(fp, master):
    result = run_push(fp, master, 0, "Deletions stopped due to --max-delete limit (42 skipped)\n")
    assert result.delete_cap_hit
    assert "5 deletion(s) were made and 42 refused" in result.errors[0]
    assert "--force-delete" in result.errors[0]


def test_a_missing_password_file_stops_before_rsync(fp, master):
    master.path("/etc/hotsync/rsync.password").unlink()
    result = push_tree(master, master_plan(), ["rsync"], None)
    assert "no rsync password file at /etc/hotsync/rsync.password" in result.errors[0]
    assert len(fp.calls) == 0


def test_a_sync_with_vanished_files_exits_0_and_records_the_warning(fp, master, hotsync):
    save_plan(master, master_plan())
    fp.register(["rsync", "-r", "-a", "-R", "--list-only", fp.any()])  # the brake's scan
    fp.register(["rsync", "-r", fp.any()], stdout=STATS,
                stderr=f'file has vanished: "{master.base}/srv/x"\n', returncode=24)
    outcome = hotsync("--root", master.base)
    assert outcome.code == 0, outcome.err
    assert "warning: 1 file(s) vanished during the transfer" in outcome.out
    assert outcome.err == ""
    assert master.path("/var/run/nethserver-hotsync/LastSyncTS").exists()


def test_sync_refuses_a_host_that_is_not_a_master(master, hotsync):
    save_plan(master, master_plan(role="slave"))
    outcome = hotsync("--root", master.base)
    assert outcome.code == 1
    assert "this host is not the master (role: slave)" in outcome.err


def test_sync_needs_the_slave_address(master, hotsync):
    save_plan(master, master_plan(slave_host=""))
    assert "remote host is not configured" in hotsync("--root", master.base).err


def test_sync_without_a_plan_says_what_to_do(sandbox, hotsync):
    outcome = hotsync("--root", sandbox, "sync")
    assert outcome.code == 1
    assert "no compiled plan" in outcome.err


def test_unknown_sync_option_is_a_usage_error(sandbox, hotsync):
    assert hotsync("--root", sandbox, "sync", "--fast").code == 2


def test_the_slave_refuses_no_option_a_push_uses(master):
    """The slave's daemon refuses the options of render.REFUSED_RSYNC_OPTIONS: none may be one
    HotSync's push sends, in any of its forms."""
    from hotsync.compiler.render import REFUSED_RSYNC_OPTIONS

    plan = master_plan(compress=True)
    forms = [
        build_push_command(master, plan, Path("/w/inc"), Path("/w/exc"), guard_file=Path("/w/guard"), max_delete=7,
                           generation_options=["--checksum-seed=2"], **variant)
        for variant in ({}, {"dry_run": True}, {"progress": True})
    ]
    long_names = {argument[2:].split("=", 1)[0] for argv in forms for argument in argv if argument.startswith("--")}
    short_flags = {flag for argv in forms for argument in argv if argument.startswith("-") and not argument.startswith("--")
                   for flag in argument[1:]}
    assert long_names and not long_names & set(REFUSED_RSYNC_OPTIONS)
    # the one-letter forms of refused options: --temp-dir, --keep-dirlinks, --partial (-P)
    assert not short_flags & set("TKP")
