"""The shipped package catalog (grammar/rules/rules.d/) against the reference facts.

For each package a sandbox master is built twice, with and without the package (same files
on disk, same other packages); what the package adds is the difference of the two: include
and exclude lists, dumps, ownership fixes, promotion steps and warnings. The expected facts
below are written by hand from the reference (original-behaviour.md §4-§7), not from the
program's output.
"""

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Tuple

import pytest

from hotsync.plan import load_plan
from hotsync.resources import shipped_folder
from hotsync.root import Root
from hotsync.runtime.conditions import InstalledPackages, evaluate_rules
from hotsync.runtime.lists import collect_rule_lists

RULES = shipped_folder("grammar") / "rules"
BACKUP = "/var/lib/nethserver/backup"
MYSQL_DUMPS = f"{BACKUP}/mysql/"


# --- the reference facts, by hand -------------------------------------------------------


@dataclass
class Expected:
    """What installing one package adds to a master (and to its slave's upkeep and promotion)."""

    includes: Tuple[str, ...] = ()
    withdrawn: Tuple[str, ...] = ()  # excludes of the list files that the package withdraws
    dumps: Tuple[tuple, ...] = ()  # (engine, databases, target, port, run as, software collection)
    owners: Tuple[tuple, ...] = ()  # (owner:group, paths, recursive, optional, pattern)
    promote: Tuple[tuple, ...] = ()  # (kind, engine, databases, arguments, optional)
    warnings: Tuple[str, ...] = ()  # a word each warning must contain
    # the host around the package
    version: str = "1.0.0"
    present: Tuple[str, ...] = ()  # paths that exist ("if present" rules); '/' at the end = a folder
    also_installed: Tuple[str, ...] = ()  # its dependencies, installed on both hosts
    databases: bool = True


FREEPBX_FILES = (
    "/var/lib/asterisk/", "/var/www/html/freepbx/", "/etc/amportal.conf", "/etc/freepbx.conf",
    "/etc/freepbx_db.conf", "/etc/asterisk/", "/usr/sbin/fwconsole",
)
FREEPBX_OWNERS = (
    ("asterisk:asterisk", ("/etc/freepbx.conf", "/etc/amportal.conf"), False, False, ""),
    ("asterisk:asterisk", ("/etc/freepbx_db.conf",), False, True, ""),
    ("asterisk:asterisk", ("/etc/asterisk/", "/var/lib/asterisk/", "/var/www/html/freepbx/"), True, False, ""),
)
# Loading data stops a promotion when it fails (a half-restored database is worse than a stop
# one can resume); restarting or regenerating what the configuration restore does again, or
# what needs the internet, is optional: reported, and promotion goes on (as the original did).
RESTORE_FREEPBX = ("restore", "mysql", ("asterisk", "asteriskcdrdb"), (), False)
RESTART_ASTERISK = ("restart", "", (), ("asterisk",), True)
RESTART_MYSQL = ("restart", "", (), ("mysqld",), False)
RESTORE_NEXTCLOUD = ("restore", "mysql", ("nextcloud",), (), False)
REFRESH_SQUID = ("run", "", (), ("/sbin/e-smith/signal-event", "nethserver-squid-update"), True)
REFRESH_ANTIVIRUS = ("run", "", (), ("/usr/bin/freshclam",), True)
DC_PATHS = (
    "/var/lib/machines/nsdc/",
    "/etc/systemd/system/machines.target.wants/nsdc.service",
    "/etc/systemd/system/multi-user.target.wants/machines.target",
)
CRON_FOLDERS = ("/etc/cron.hourly/", "/etc/cron.daily/", "/etc/cron.weekly/", "/etc/cron.monthly/")
ACL_DUMPER = "/etc/e-smith/events/actions/nethserver-ibays-dump-acls"

# §5 plugins, §6 ownership table, §7 promotion steps.
CATALOG: Dict[str, Expected] = {
    "nethserver-nextcloud": Expected(
        includes=("/usr/share/nextcloud/apps",), present=("/usr/share/nextcloud/apps/",),
        promote=(RESTORE_NEXTCLOUD,), also_installed=("nethserver-mysql",),
    ),
    "nethserver-mysql": Expected(
        includes=(MYSQL_DUMPS, "/var/lib/mysql/mysql/", "/var/lib/nethserver/secrets/mysql"),
        dumps=(("mysql", (), MYSQL_DUMPS, "", "", ""),),
        promote=(RESTART_MYSQL,),
    ),
    "nethserver-mattermost": Expected(
        includes=("/var/lib/nethserver/mattermost/backup/mattermost.sql",),
        # reference: su - postgres -c "scl enable rh-postgresql12 -- pg_dump --port 55434 mattermost"
        dumps=(("postgresql", ("mattermost",), "/var/lib/nethserver/mattermost/backup/mattermost.sql", "55434",
                "postgres", "rh-postgresql12"),),
    ),
    "nethserver-dnsmasq": Expected(includes=("/var/lib/dnsmasq/dnsmasq.leases",)),
    "nethserver-squidguard": Expected(
        includes=("/var/squidGuard",),
        owners=(
            ("squid:squid", ("/var/squidGuard/blacklists/",), True, False, ""),
            ("ufdb:squid", ("/var/squidGuard/blacklists/cache.execlists/",), True, False, ""),
            ("squid:squid", ("/var/squidGuard/blacklists.old/",), True, True, ""),
            ("ufdb:squid", ("/var/squidGuard/blacklists.old/cache.execlists/",), True, True, ""),
            ("ufdb:ufdb", ("/var/ufdbguard/logs/",), True, True, ""),
        ),
    ),
    "nethserver-squid": Expected(promote=(REFRESH_SQUID,)),
    "nethserver-pulledpork": Expected(includes=("/etc/suricata/rules",)),
    "nethserver-antivirus": Expected(promote=(REFRESH_ANTIVIRUS,)),
    "nethserver-samba-audit": Expected(includes=("/var/log/smbaudit.log",)),
    "nethserver-freepbx": Expected(
        version="14.0.4", also_installed=("nethserver-mysql",),
        includes=FREEPBX_FILES,
        withdrawn=("/var/www/html/freepbx", f"{BACKUP}/mysql/asterisk.dump"),
        owners=FREEPBX_OWNERS,
        promote=(RESTORE_FREEPBX, RESTART_ASTERISK),
    ),
    "nethserver-webtop5": Expected(
        includes=("/var/lib/nethserver/webtop/backup/webtop.sql",),
        dumps=(("postgresql", ("webtop5",), "/var/lib/nethserver/webtop/backup/webtop.sql", "", "postgres", ""),),
        warnings=("z-push",),
    ),
    "nethserver-collectd": Expected(includes=("/var/lib/collectd",)),
    # Covered by their own /etc/backup-data.d list files (§5): nothing of their own.
    "nethserver-cups": Expected(),
    "nethserver-directory": Expected(),
    "nethserver-ibays": Expected(),
    "nethserver-letsencrypt": Expected(),
    "nethserver-sssd": Expected(),
    "nethserver-dc": Expected(includes=tuple(path.rstrip("/") for path in DC_PATHS), present=DC_PATHS),
    "nethserver-mail-server": Expected(
        owners=(
            ("vmail:vmail", ("/var/lib/nethserver/vmail/",), True, False, ""),
            ("root:vmail", ("/var/lib/nethserver/sieve-scripts/",), False, False, ""),
            ("vmail:vmail", ("/var/lib/nethserver/sieve-scripts/",), False, False, "*.svbin"),
        ),
    ),
    "nethserver-mail-getmail": Expected(
        includes=("/var/lib/getmail/",), owners=(("vmail:vmail", ("/var/lib/getmail/",), False, False, ""),),
    ),
    "nethserver-mail-filter": Expected(
        owners=(
            ("redis:redis", ("/var/lib/redis/",), True, False, ""),
            ("_rspamd:_rspamd", ("/var/lib/rspamd/",), True, False, ""),
        ),
    ),
    "nethserver-ejabberd": Expected(owners=(("ejabberd:ejabberd", ("/var/lib/nethserver/ejabberd/",), True, False, ""),)),
    "nethserver-openvpn": Expected(owners=(("srvmgr:adm", ("/var/lib/nethserver/openvpn-tunnels/",), True, False, ""),)),
    # The original checked 'rpm -q nethserver-suricata', the NethServer module (it requires suricata).
    "nethserver-suricata": Expected(owners=(("suricata:suricata", ("/etc/suricata/",), True, False, ""),)),
}

# What the packages' own list files say (§4 step 3): the same on both hosts of a comparison.
LIST_FILES = {
    "/etc/backup-data.d/nethserver-freepbx.exclude": "/var/www/html/freepbx\n/var/lib/nethserver/backup/mysql/asterisk.dump\n",
    "/etc/backup-data.d/nethserver-cups.include": "# printers\n/etc/cups\n",
}


# --- building hosts and reading what they would do --------------------------------------


@dataclass
class Facts:
    includes: List[str]
    excludes: List[str]
    dumps: List[tuple]
    owners: List[tuple]
    promote: List[tuple]
    warnings: List[str]


@pytest.fixture
def make_master(tmp_path, hotsync):
    """A factory of compiled sandbox masters: ``make_master(name, packages, present, databases)``."""

    def make(name: str, packages: Dict[str, str], present=(), databases=True) -> Root:
        base = tmp_path / name
        rules = base / "etc/hotsync"
        (rules / "rules.d").mkdir(parents=True)
        shutil.copy(RULES / "hotsync.hs", rules / "hotsync.hs")
        for source in sorted((RULES / "rules.d").glob("*.hs")):
            shutil.copy(source, rules / "rules.d" / source.name)
        _write(base, "/var/lib/hotsync/sandbox-packages", "".join(f"{n} {v}\n" for n, v in packages.items()))
        for host_path, text in LIST_FILES.items():
            _write(base, host_path, text)
        for host_path in present:
            _make_present(base, host_path)
        assert hotsync("--root", base, "config", "set", "hotsync", "configuration", "role", "master",
                       "SlaveHost", "10.0.0.2", "databases", "enabled" if databases else "disabled").code == 0
        assert hotsync("--root", base, "config", "set", "rsyncd", "service", "password", "longenoughsecret").code == 0
        outcome = hotsync("--root", base, "compile", "--quiet")
        assert outcome.code == 0, outcome.err
        return Root(base)

    return make


def _write(base: Path, host_path: str, text: str) -> None:
    target = base / host_path.lstrip("/")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text)


def _make_present(base: Path, host_path: str) -> None:
    if host_path.endswith("/"):
        (base / host_path.strip("/")).mkdir(parents=True, exist_ok=True)
    else:
        _write(base, host_path, "present\n")


def facts_of(root: Root) -> Facts:
    """What the master's rules ask for now, read from the compiled plan like the runtime does."""
    plan = load_plan(root)
    states = evaluate_rules(root, plan, InstalledPackages(root))
    active = [state.rule for state in states if state.active]
    lists = collect_rule_lists(root, states)
    return Facts(
        includes=list(lists.includes),
        excludes=list(lists.excludes),
        dumps=[(d.engine, tuple(d.databases), d.target, d.connection.get("port", ""), d.connection.get("run_as", ""),
                d.connection.get("collection", "")) for rule in active for d in rule.dumps],
        owners=[(f"{o.owner}:{o.group}", tuple(o.paths), o.recursive, o.optional, o.pattern) for rule in active for o in rule.owners],
        promote=[(p.kind, p.engine, tuple(p.databases), tuple(p.arguments), p.optional)
                 for rule in active for p in rule.promote],
        warnings=[text for rule in active for text in rule.warnings],
    )


def added(with_package: list, without: list) -> list:
    return [item for item in with_package if item not in without]


def compare(make_master, package: str, expected: Expected):
    """Facts of the host with the package and of the same host without it."""
    others = dict.fromkeys(expected.also_installed, "1.0.0")
    present = expected.present
    with_package = facts_of(make_master("with", {**others, package: expected.version}, present, expected.databases))
    without = facts_of(make_master("without", others, present, expected.databases))
    return with_package, without


# --- per package ------------------------------------------------------------------------


@pytest.mark.parametrize("package", sorted(CATALOG))
def test_an_installed_package_adds_what_the_reference_says(make_master, package):
    expected = CATALOG[package]
    with_package, without = compare(make_master, package, expected)
    assert sorted(added(with_package.includes, without.includes)) == sorted(expected.includes)
    assert sorted(added(without.excludes, with_package.excludes)) == sorted(expected.withdrawn)
    assert added(with_package.excludes, without.excludes) == []
    assert added(with_package.dumps, without.dumps) == list(expected.dumps)
    assert added(with_package.owners, without.owners) == list(expected.owners)
    assert added(with_package.promote, without.promote) == list(expected.promote)
    new_warnings = added(with_package.warnings, without.warnings)
    assert len(new_warnings) == len(expected.warnings)
    for word, warning in zip(expected.warnings, new_warnings):
        assert word in warning


@pytest.mark.parametrize("package", sorted(CATALOG))
def test_a_package_that_is_not_installed_adds_nothing(make_master, package):
    expected = CATALOG[package]
    others = dict.fromkeys(expected.also_installed, "1.0.0")
    bare = facts_of(make_master("bare", others, expected.present))
    for path in expected.includes:
        assert path not in bare.includes
    for dump in expected.dumps:
        assert dump not in bare.dumps
    for owner in expected.owners:
        assert owner not in bare.owners
    for step in expected.promote:
        assert step not in bare.promote
    for word in expected.warnings:
        assert not any(word in warning for warning in bare.warnings)


def test_a_bare_master_pushes_the_base_set_and_its_list_files(make_master):
    facts = facts_of(make_master("bare", {}))
    for path in (f"{BACKUP}/backup-config.tar.xz", f"{BACKUP}/backup-config.tar.xz.md5",
                 f"{BACKUP}/backup-config.tar.xz-content.md5", "/etc/yum/vars", "/etc/yum.repos.d", "/etc/yum.conf",
                 "/etc/cups"):
        assert path in facts.includes
    for pattern in (f"{BACKUP}/", "/var/lib/nethserver/db/", "/var/log/",
                    "/var/www/html/freepbx", f"{BACKUP}/mysql/asterisk.dump"):
        assert pattern in facts.excludes
    assert facts.dumps == facts.owners == facts.promote == facts.warnings == []


# --- conditions inside the packages -----------------------------------------------------


@pytest.mark.parametrize("package", ["nethserver-nextcloud", "nethserver-dc"])
def test_if_present_paths_are_left_out_when_missing(make_master, package):
    expected = CATALOG[package]
    facts = facts_of(make_master("missing", {package: "1.0.0", **dict.fromkeys(expected.also_installed, "1")}))
    for path in expected.includes:
        assert path not in facts.includes


def test_mysql_without_database_sync_dumps_nothing_but_still_restarts(make_master):
    facts = facts_of(make_master("nodb", {"nethserver-mysql": "1.0.0"}, databases=False))
    assert facts.dumps == []
    assert MYSQL_DUMPS not in facts.includes
    assert facts.promote == [RESTART_MYSQL]


@pytest.mark.parametrize("package, dump", [
    ("nethserver-mattermost", "/var/lib/nethserver/mattermost/backup/mattermost.sql"),
    ("nethserver-webtop5", "/var/lib/nethserver/webtop/backup/webtop.sql"),
])
def test_postgresql_dumps_follow_the_database_switch(make_master, package, dump):
    facts = facts_of(make_master("nodb", {package: "1.0.0"}, databases=False))
    assert facts.dumps == []
    assert dump not in facts.includes


def test_webtop_warns_that_zpush_is_not_synced_even_without_database_sync(make_master):
    facts = facts_of(make_master("nodb", {"nethserver-webtop5": "1.0.0"}, databases=False))
    assert any("z-push" in warning for warning in facts.warnings)


def test_freepbx_without_database_sync_warns_and_restores_nothing(make_master):
    facts = facts_of(make_master("nodb", {"nethserver-freepbx": "14.0.4", "nethserver-mysql": "1"}, databases=False))
    assert any("database sync is disabled" in warning for warning in facts.warnings)
    assert RESTORE_FREEPBX not in facts.promote
    assert RESTART_ASTERISK in facts.promote


@pytest.mark.parametrize("version", ["14.0.3", "13.0.9"])
def test_freepbx_up_to_14_0_3_is_not_synced_and_says_so(make_master, version):
    facts = facts_of(make_master("old", {"nethserver-freepbx": version, "nethserver-mysql": "1"}))
    for path in FREEPBX_FILES:
        assert path not in facts.includes
    assert "/var/www/html/freepbx" in facts.excludes
    assert not any(owner[0] == "asterisk:asterisk" for owner in facts.owners)
    assert any("14.0.3 or older" in warning for warning in facts.warnings)


def test_freepbx_dumps_its_own_databases_on_a_host_without_nethserver_mysql(make_master):
    facts = facts_of(make_master("alone", {"nethserver-freepbx": "15.0.1"}))
    assert facts.dumps == [("mysql", ("asterisk", "asteriskcdrdb"), MYSQL_DUMPS, "", "", "")]
    assert f"{BACKUP}/mysql/asterisk.dump" in facts.includes
    assert f"{BACKUP}/mysql/asteriskcdrdb.dump" in facts.includes


def test_freepbx_restores_from_the_mysql_dump_files(make_master):
    plan = load_plan(make_master("pbx", {"nethserver-freepbx": "14.0.4", "nethserver-mysql": "1"}))
    restores = [step for rule in plan.rules for step in rule.promote if step.kind == "restore" and "asterisk" in step.databases]
    assert [step.dump_targets for step in restores] == [(f"{BACKUP}/mysql/asterisk.dump", f"{BACKUP}/mysql/asteriskcdrdb.dump")]


# --- the extra rules of the original (no package of their own) --------------------------


def test_cron_folders_are_pushed_when_present(make_master):
    facts = facts_of(make_master("cron", {}, present=CRON_FOLDERS))
    for folder in CRON_FOLDERS:
        assert folder.rstrip("/") in facts.includes


def test_cron_folders_are_not_listed_when_missing(make_master):
    facts = facts_of(make_master("nocron", {}))
    for folder in CRON_FOLDERS:
        assert folder.rstrip("/") not in facts.includes


def test_the_acl_dump_is_pushed_only_where_the_dumper_exists(make_master):
    assert f"{BACKUP}/acls.dump" in facts_of(make_master("acl", {}, present=(ACL_DUMPER,))).includes
    assert f"{BACKUP}/acls.dump" not in facts_of(make_master("noacl", {})).includes


def before_push_programs(root: Root) -> list:
    plan = load_plan(root)
    states = evaluate_rules(root, plan, InstalledPackages(root))
    return [action.arguments for state in states if state.active for action in state.rule.before_push]


def test_the_acl_dump_is_made_again_before_each_push_where_the_dumper_exists(make_master):
    """§5: the original's acls plugin ran the dumper at every sync, not only the nightly backup."""
    assert before_push_programs(make_master("acl", {}, present=(ACL_DUMPER,))) == [(ACL_DUMPER,)]
    assert before_push_programs(make_master("noacl", {})) == []


# --- promotion order across packages (§7) -----------------------------------------------


def test_promotion_steps_follow_the_reference_order(make_master):
    everything = dict.fromkeys(CATALOG, "15.0.0")
    steps = facts_of(make_master("all", everything)).promote

    def position(step):
        return steps.index(step)

    antivirus = position(REFRESH_ANTIVIRUS)
    mysql = position(RESTART_MYSQL)
    restores = [position(RESTORE_FREEPBX), position(RESTORE_NEXTCLOUD)]
    squid = position(REFRESH_SQUID)
    asterisk = position(RESTART_ASTERISK)
    assert antivirus < mysql < min(restores)
    assert max(restores) < asterisk
    assert max(restores) < squid


def test_every_shipped_rule_file_compiles_without_errors(make_master):
    root = make_master("check", dict.fromkeys(CATALOG, "15.0.0"))
    assert load_plan(root).rules
