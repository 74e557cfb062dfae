"""The push lists: rules evaluated now, list files, unexcludes, plugins (append, edit, fail, hang)."""

import os
import time
from pathlib import Path

import pytest

from hotsync.errors import CommandError
from hotsync.plan import Condition, Limits, PathEntry, Plan, Rule
from hotsync.root import Root
from hotsync.runtime.conditions import InstalledPackages, compare_versions, evaluate_rules, package_matches
from hotsync.runtime.lists import build_lists, excludes_that_can_match, is_withdrawn, split_existing


def make_plan(*rules, databases=True, plugin_timeout=60) -> Plan:
    return Plan(version=1, source_hash="", role="master", enabled=True, databases_enabled=databases,
                slave_host="127.0.0.1", limits=Limits(plugin_timeout=plugin_timeout), rules=tuple(rules))


def entries(*paths):
    return tuple(PathEntry(path, "test") for path in paths)


def declare_packages(sandbox: Path, text: str) -> None:
    listing = sandbox / "var/lib/hotsync/sandbox-packages"
    listing.parent.mkdir(parents=True, exist_ok=True)
    listing.write_text(text)


def write_plugin(sandbox: Path, name: str, body: str) -> Path:
    plugin = sandbox / "etc/hotsync.d" / name
    plugin.parent.mkdir(parents=True, exist_ok=True)
    plugin.write_text("#!/bin/sh\n" + body)
    plugin.chmod(0o755)
    return plugin


def lists_for(sandbox: Path, plan: Plan, tmp_path: Path, dry_run=False):
    workdir = tmp_path / "work"
    workdir.mkdir(exist_ok=True)
    root = Root(sandbox)
    return build_lists(root, plan, workdir, InstalledPackages(root), dry_run)


@pytest.mark.parametrize("left, right, order", [
    ("14.0.3", "14.0.3", 0), ("14.0.4", "14.0.3", 1), ("14.0.10", "14.0.9", 1), ("1.0", "1.0.1", -1),
    ("1.0a", "1.0", 1), ("1.0~rc1", "1.0", -1), ("2.0", "2.0~beta", 1), ("1.0^post", "1.0", 1),
    ("1.0^post", "1.0.1", -1), ("1.a", "1.1", -1), ("abc", "abd", -1),
])
def test_versions_compare_like_rpm(left, right, order):
    assert compare_versions(left, right) == order
    assert compare_versions(right, left) == -order


def test_version_operators():
    assert package_matches("14.0.4", ">", "14.0.3")
    assert not package_matches("14.0.3", ">", "14.0.3")
    assert package_matches("14.0.3", ">=", "14.0.3")
    assert package_matches("1.2", "", "")
    assert not package_matches(None, "", "")


def test_sandbox_packages_decide_which_rules_are_active(sandbox):
    declare_packages(sandbox, "# this host\nnethserver-mysql 1.2.3\nnethserver-freepbx 14.0.3\n\nnethserver-dc\n")
    (sandbox / "etc/asterisk").mkdir(parents=True)
    plan = make_plan(
        Rule("mysql", "m.hs:1:1", conditions=(Condition("installed", "nethserver-mysql"),)),
        Rule("freepbx", "f.hs:1:1", conditions=(Condition("installed", "nethserver-freepbx", version_op=">",
                                                          version="14.0.3", origin="f.hs:2:5"),)),
        Rule("dc", "d.hs:1:1", conditions=(Condition("installed", "nethserver-dc"), Condition("databases"))),
        Rule("no-mail", "n.hs:1:1", conditions=(Condition("installed", "nethserver-mail-server", negated=True),)),
        Rule("asterisk", "a.hs:1:1", conditions=(Condition("exists", "/etc/asterisk"),)),
        Rule("webtop", "w.hs:1:1", conditions=(Condition("installed", "nethserver-webtop5"),)),
    )
    states = {state.rule.name: state for state in evaluate_rules(Root(sandbox), plan, InstalledPackages(Root(sandbox)))}
    assert [name for name, state in states.items() if state.active] == ["mysql", "dc", "no-mail", "asterisk"]
    assert states["freepbx"].reason == "installed nethserver-freepbx > 14.0.3 (f.hs:2:5)"
    databases_off = make_plan(*plan.rules, databases=False)
    off = {s.rule.name: s for s in evaluate_rules(Root(sandbox), databases_off, InstalledPackages(Root(sandbox)))}
    assert not off["dc"].active and off["dc"].reason == "databases"


RPM_TABLE = ["rpm", "-qa", "--qf", "%{NAME} %{VERSION}\n"]


def test_a_real_host_asks_rpm_once_for_every_condition_and_the_package_list(fp):
    fp.register(RPM_TABLE, stdout="nethserver-mysql 1.2.3\nrsync 3.1.2\nnethserver-freepbx 14.0.3\n")
    plan = make_plan(
        Rule("mysql", "m.hs:1:1", conditions=(Condition("installed", "nethserver-mysql"),)),
        Rule("freepbx", "f.hs:1:1", conditions=(Condition("installed", "nethserver-freepbx", version_op=">=",
                                                          version="14"),)),
        Rule("webtop", "w.hs:1:1", conditions=(Condition("installed", "nethserver-webtop5"),)),
    )
    packages = InstalledPackages(Root(Path("/")))
    states = evaluate_rules(Root(Path("/")), plan, packages)
    assert [state.active for state in states] == [True, True, False]
    assert packages.all_names() == ("nethserver-freepbx", "nethserver-mysql", "rsync")
    assert fp.call_count(RPM_TABLE) == 1


def test_without_rpm_no_rule_is_active_and_the_package_list_fails_with_rpms_reason(fp):
    def missing(_process):
        raise FileNotFoundError(2, "No such file or directory", "rpm")

    fp.register(RPM_TABLE, callback=missing)
    packages = InstalledPackages(Root(Path("/")))
    plan = make_plan(Rule("mysql", "m.hs:1:1", conditions=(Condition("installed", "nethserver-mysql"),)))
    assert not evaluate_rules(Root(Path("/")), plan, packages)[0].active
    with pytest.raises(CommandError, match="program not found: rpm"):
        packages.all_names()


def test_rules_list_files_and_unexcludes_make_the_lists(sandbox, tmp_path):
    declare_packages(sandbox, "nethserver-freepbx 15.0\n")
    (sandbox / "etc/backup-data.d").mkdir(parents=True)
    (sandbox / "etc/backup-data.d/b.include").write_text("# comment\n/var/lib/b\n\n")
    (sandbox / "etc/backup-data.d/a.include").write_text("/var/lib/a\n")
    (sandbox / "etc/backup-data.d/a.exclude").write_text("/var/lib/a/cache/\n/var/www/html/freepbx\n")
    plan = make_plan(
        Rule("base", "base.hs:1:1", include_lists=entries("/etc/backup-data.d/*.include"),
             exclude_lists=entries("/etc/backup-data.d/*.exclude"), include=entries("/etc/yum.conf"),
             exclude=entries("/var/lib/nethserver/backup/mysql/asterisk.dump")),
        Rule("freepbx", "f.hs:1:1", conditions=(Condition("installed", "nethserver-freepbx"),),
             include=entries("/var/lib/asterisk/"), unexclude=entries("/var/www/html/freepbx/",
                                                                      "/var/lib/nethserver/backup/mysql/asterisk.dump"),
             warnings=("the database is not synchronized",)),
        Rule("absent", "x.hs:1:1", conditions=(Condition("installed", "nethserver-nope"),), include=entries("/nope")),
    )
    lists = lists_for(sandbox, plan, tmp_path)
    assert lists.includes[:4] == ("/etc/yum.conf", "/var/lib/a", "/var/lib/b", "/var/lib/asterisk/")
    assert "/nope" not in lists.includes
    assert "/var/lib/a/cache/" in lists.excludes
    assert "/var/www/html/freepbx" not in lists.excludes
    assert "/var/lib/nethserver/backup/mysql/asterisk.dump" not in lists.excludes
    # what no plugin and no rule can take away
    for fixed in ("/var/log/", "/var/lib/nethserver/db/", "/var/lib/nethserver/hotsync/", "/etc/cron.d/hotsync",
                  "/etc/hotsync/rsync.password"):
        assert fixed in lists.excludes
    assert "/var/lib/nethserver/backup/backup-config.tar.xz" in lists.includes
    assert lists.warnings == ("freepbx: the database is not synchronized",)


def test_only_existing_include_entries_are_kept(sandbox):
    (sandbox / "etc").mkdir()
    (sandbox / "etc/yum.conf").write_text("")
    os.symlink("/nowhere", sandbox / "etc/dangling")
    existing, missing, invalid = split_existing(Root(sandbox), ["/etc/yum.conf", "/etc/dangling", "/etc/none",
                                                                "relative/path", "/etc/../x"])
    assert existing == ("/etc/yum.conf", "/etc/dangling")
    assert missing == ("/etc/none",)
    assert invalid == ("relative/path", "/etc/../x")


def test_unexclude_matches_same_path_or_glob():
    assert is_withdrawn("/var/www/html/freepbx/", ["/var/www/html/freepbx"])
    assert is_withdrawn("/var/lib/x/a.dump", ["/var/lib/x/*.dump"])
    assert not is_withdrawn("/var/www/html", ["/var/www/html/freepbx"])


def test_plugins_append_and_edit_the_lists_in_name_order(sandbox, tmp_path):
    plan = make_plan(Rule("base", "b:1:1", include=entries("/etc/one", "/etc/two"), exclude=entries("/tmp/")))
    write_plugin(sandbox, "10-append", 'echo /var/lib/custom >> "$1"\necho "/var/lib/custom/tmp/" >> "$2"\n')
    write_plugin(sandbox, "20-edit", 'sed -i "/\\/etc\\/two/d" "$1"\n')
    write_plugin(sandbox, "30-sees-root", 'echo "$HOTSYNC_ROOT/marker $HOTSYNC_DRY_RUN" > "$HOTSYNC_ROOT/seen"\n')
    (sandbox / "etc/hotsync.d/not-executable").write_text("#!/bin/sh\nexit 1\n")
    (sandbox / "etc/hotsync.d/.hidden").write_text("#!/bin/sh\nexit 1\n")
    lists = lists_for(sandbox, plan, tmp_path, dry_run=True)
    assert lists.plugin_failures == ()
    assert lists.includes[:2] == ("/etc/one", "/var/lib/custom")
    assert "/etc/two" not in lists.includes
    assert lists.excludes[:2] == ("/tmp/", "/var/lib/custom/tmp/")
    assert (sandbox / "seen").read_text() == f"{sandbox}/marker 1\n"


def test_a_failing_and_a_hung_plugin_are_reported_by_name_and_the_others_still_count(sandbox, tmp_path):
    plan = make_plan(Rule("base", "b:1:1", include=entries("/etc/one")), plugin_timeout=1)
    write_plugin(sandbox, "10-broken", 'echo "cannot reach the ACL dumper" >&2\nexit 3\n')
    write_plugin(sandbox, "20-hung", 'echo /var/lib/half >> "$1"\nsleep 300\n')
    write_plugin(sandbox, "30-fine", 'echo /var/lib/fine >> "$1"\n')
    started = time.monotonic()
    lists = lists_for(sandbox, plan, tmp_path)
    assert time.monotonic() - started < 10
    failures = {failure.name: failure.message for failure in lists.plugin_failures}
    assert failures["10-broken"] == "failed (exit 3): cannot reach the ACL dumper"
    assert failures["20-hung"] == "did not finish within 1 s and was stopped"
    assert str(lists.plugin_failures[1]) == "plugin 20-hung did not finish within 1 s and was stopped"
    assert "/var/lib/fine" in lists.includes


def test_building_the_lists_does_not_walk_the_included_trees(sandbox, tmp_path, monkeypatch):
    big = sandbox / "srv/big"
    for number in range(50):
        (big / f"d{number}").mkdir(parents=True)
    plan = make_plan(Rule("base", "b:1:1", include=entries("/srv/big")))
    calls = []
    monkeypatch.setattr(os, "walk", lambda *a, **k: calls.append(a) or iter(()))
    real_scandir = os.scandir
    monkeypatch.setattr(os, "scandir", lambda *a, **k: calls.append(a) or real_scandir(*a, **k))
    lists = lists_for(sandbox, plan, tmp_path)
    assert lists.includes[0] == "/srv/big"
    assert calls == []


def test_the_push_leaves_out_exclude_rules_that_cannot_match_under_any_include_root():
    includes = ["/srv/office", "/var/lib/nethserver/backup/backup-config.tar.xz", "/home/e-smith/"]
    excludes = [
        "/srv/office/tmp/",  # inside an include root
        "/var/lib/nethserver/backup/",  # holds an included file
        "/home/",  # holds an include root
        "/var/log/",  # elsewhere: cannot match
        "/etc/hotsync.conf",  # elsewhere: cannot match
        "/srv/office-old/",  # a sibling that only shares a prefix: cannot match
        "*.hotsync-partial",  # unanchored: can match anywhere
        "/var/*/cache/",  # a wildcard: kept
        "- /opt/",  # an rsync rule prefix: kept
    ]
    assert excludes_that_can_match(excludes, includes) == (
        "/srv/office/tmp/", "/var/lib/nethserver/backup/", "/home/", "*.hotsync-partial", "/var/*/cache/", "- /opt/",
    )


def test_with_the_whole_root_included_every_exclude_rule_is_kept():
    excludes = ["/var/log/", "/etc/hotsync.conf", "/"]
    assert excludes_that_can_match(excludes, ["/"]) == tuple(excludes)


def test_a_rule_pointing_at_a_file_that_is_no_list_never_quotes_its_lines(sandbox, tmp_path):
    (sandbox / "etc").mkdir()
    (sandbox / "etc/shadow").write_text("root:$6$secret-salt$secret-hash:19000:0:99999:7:::\n/var/lib/kept\n")
    plan = make_plan(Rule("odd", "odd.hs:1:1", include_lists=entries("/etc/shadow")))
    lists = lists_for(sandbox, plan, tmp_path)
    assert "/var/lib/kept" in lists.includes
    assert not any("secret" in entry for entry in lists.includes)
    assert lists.warnings == ("/etc/shadow:1: ignored an entry that is not an absolute host path",)
