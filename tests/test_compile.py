"""The compiler as an admin meets it: golden files per role, every validation error with its
position, injection through the database, atomicity, --check/--diff/--json, and the tunnel's
peer authentication with real stunnel."""

import json
import sysconfig
from pathlib import Path

import pytest
from fake_tools import STUNNEL_456_OUTPUT, install_fake_stunnel, path_with, stunnel_output
from support.hosts import free_port
from support.passwords import PASSWORD, WRONG_PASSWORD, pbkdf2_key
from support.runner import admin, run_hotsync
from support.trees import tree_digest

from hotsync.compiler import render
from hotsync.compiler.parser import build_parser

DATA = Path(__file__).parent / "data"
GOLDEN = DATA / "golden"
GOLDEN_FILES = ("etc/hotsync.conf", "etc/rsyncd.conf", "etc/rsyncd.secrets", "etc/stunnel/stunnel.conf", "etc/cron.d/hotsync")


def compiled_host(root: Path, **settings) -> Path:
    """An installed host with ``settings`` ({"hotsync": [prop, value, …], …}), compiled."""
    admin(root, "install", "--quiet", in_process=True)
    for key, props in settings.items():
        admin(root, "config", "setprop", key, *props, in_process=True)
    admin(root, "compile", "--quiet", in_process=True)
    return root


SCENARIOS = {
    "master": {"hotsync": ["role", "master", "SlaveHost", "192.168.1.2"], "rsyncd": ["password", PASSWORD]},
    "slave": {"hotsync": ["role", "slave", "MasterHost", "192.168.1.1"], "rsyncd": ["password", PASSWORD]},
    "none": {"rsyncd": ["password", PASSWORD]},
    "disabled": {"hotsync": ["role", "master", "SlaveHost", "192.168.1.2", "status", "disabled"], "rsyncd": ["password", PASSWORD]},
}
SCENARIOS["master-certificate"] = SCENARIOS["master"]
SCENARIOS["slave-certificate"] = SCENARIOS["slave"]
# The installed stunnel decides how the tunnel authenticates: NethServer 7's 4.56 has no PSK.
SCENARIO_STUNNEL = {"master-certificate": STUNNEL_456_OUTPUT, "slave-certificate": STUNNEL_456_OUTPUT}


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_generated_files_match_the_golden_files(sandbox, scenario, tmp_path, monkeypatch):
    stunnel = install_fake_stunnel(tmp_path / "bin", SCENARIO_STUNNEL.get(scenario, stunnel_output("5.68")), exit_code=1)
    monkeypatch.setenv("PATH", path_with(stunnel))
    compiled_host(sandbox, **SCENARIOS[scenario])
    scripts = sysconfig.get_path("scripts")
    for name in GOLDEN_FILES:
        expected = (GOLDEN / scenario / name).read_text().replace("{ROOT}", str(sandbox)).replace("{SCRIPTS}", scripts)
        assert (sandbox / name).read_text() == expected, name


def test_secret_files_are_readable_by_root_only_and_hold_the_secret(sandbox):
    compiled_host(sandbox, **SCENARIOS["slave"])
    secrets = sandbox / "etc/rsyncd.secrets"
    assert secrets.stat().st_mode & 0o777 == 0o600
    assert secrets.read_text() == f"hotsyncuser:{PASSWORD}\n"
    psk = sandbox / "etc/stunnel/hotsync.psk"
    assert psk.stat().st_mode & 0o777 == 0o600
    assert psk.read_text() == f"hotsync:{pbkdf2_key(PASSWORD)}\n"
    assert PASSWORD not in psk.read_text()
    plan = (sandbox / "var/lib/nethserver/hotsync/plan.json").read_text()
    assert PASSWORD not in plan
    assert json.loads(plan)["role"] == "slave"


def test_master_password_file_is_private(sandbox):
    compiled_host(sandbox, **SCENARIOS["master"])
    password_file = sandbox / "etc/hotsync/rsync.password"
    assert password_file.read_text() == f"{PASSWORD}\n"
    assert password_file.stat().st_mode & 0o777 == 0o600


def test_grammar_has_no_conflicts_in_strict_mode():
    build_parser.cache_clear()
    try:
        build_parser(strict=True)
    finally:
        build_parser.cache_clear()


def failing_cases():
    return sorted((DATA / "failing").glob("*.hs"))


@pytest.mark.parametrize("case", failing_cases(), ids=lambda path: path.stem)
def test_each_invalid_rule_file_is_reported_at_its_position(sandbox, hotsync, case):
    compiled_host(sandbox, **SCENARIOS["master"])
    main_file = "/etc/hotsync/hotsync.hs"
    text = case.read_text()
    (sandbox / main_file[1:]).write_text(text)
    before = tree_digest(sandbox)
    expected = [
        line[len("# expect: "):].replace("{FILE}", main_file)
        for line in text.splitlines() if line.startswith("# expect: ")
    ]
    outcome = hotsync("--root", sandbox, "compile")
    assert outcome.code == 1
    reported = [line for line in outcome.err.splitlines() if ": error: " in line]
    assert reported == [f"{main_file}:{message}" for message in expected]
    assert f"{len(expected)} error" in outcome.err.splitlines()[-1]
    assert "Traceback" not in outcome.err
    assert tree_digest(sandbox) == before


def test_an_error_shows_the_source_line_and_a_caret(sandbox):
    compiled_host(sandbox, **SCENARIOS["master"])
    (sandbox / "etc/hotsync/rules.d/typo.hs").write_text("rule web {\n    inclde /var/www/\n}\n")
    outcome = run_hotsync("--root", sandbox, "compile")
    assert outcome.code == 1
    assert outcome.err.splitlines()[:3] == [
        "/etc/hotsync/rules.d/typo.hs:2:5: error: unknown keyword 'inclde' (did you mean 'include'?)",
        "        inclde /var/www/",
        "        ^",
    ]


def nested_rule(levels: int) -> str:
    """A rule whose include sits inside ``levels`` nested 'when' blocks."""
    return ("rule deep {\n" + "    when databases {\n" * levels + "        include /srv/deep\n"
            + "    }\n" * levels + "}\n")


def test_rules_nested_as_deep_as_the_limit_compile(sandbox, hotsync):
    compiled_host(sandbox, **SCENARIOS["master"])
    (sandbox / "etc/hotsync/rules.d/deep.hs").write_text(nested_rule(32))
    outcome = hotsync("--root", sandbox, "compile")
    assert outcome.code == 0, outcome.err


@pytest.mark.parametrize("levels", [33, 300, 5000])
def test_rules_nested_deeper_than_the_limit_are_a_located_error(sandbox, hotsync, levels):
    compiled_host(sandbox, **SCENARIOS["master"])
    (sandbox / "etc/hotsync/rules.d/deep.hs").write_text(nested_rule(levels))
    before = tree_digest(sandbox)
    for command in (("compile",), ("compile", "--check")):
        outcome = hotsync("--root", sandbox, *command)
        assert outcome.code == 1
        assert outcome.err.splitlines()[:2] == [
            "/etc/hotsync/rules.d/deep.hs:34:5: error: rules nest deeper than 32 levels: this 'when' is "
            "inside 32 others; join the conditions or split the rule",
            "        when databases {",
        ]
        assert "Traceback" not in outcome.err
    assert tree_digest(sandbox) == before


SHADOW_HASH = "$6$s4ltS4lt$Zq0rOOTHASHrecognisableXyZ"


@pytest.mark.parametrize("include", ["/etc/shadow", "../../shadow", "/etc/hotsync/rsync.password", "*"])
def test_an_include_of_a_file_that_is_not_a_rule_file_is_refused_without_quoting_it(sandbox, hotsync, include):
    compiled_host(sandbox, **SCENARIOS["master"])
    (sandbox / "etc/shadow").write_text(f"root:{SHADOW_HASH}:19000:0:99999:7:::\n")
    (sandbox / "etc/hotsync/rules.d/50-site.hs").write_text(f'# site rules\ninclude "{include}"\n')
    before = tree_digest(sandbox)
    outcome = hotsync("--root", sandbox, "compile")
    assert outcome.code == 1
    assert outcome.err.splitlines()[0].startswith("/etc/hotsync/rules.d/50-site.hs:2:1: error: include ")
    assert SHADOW_HASH not in outcome.err and PASSWORD not in outcome.err
    assert "Traceback" not in outcome.err
    assert tree_digest(sandbox) == before


def test_an_include_outside_the_rule_folder_names_the_pattern_only(sandbox, hotsync):
    compiled_host(sandbox, **SCENARIOS["master"])
    (sandbox / "etc/shadow").write_text(f"root:{SHADOW_HASH}:19000:0:99999:7:::\n")
    (sandbox / "etc/hotsync/rules.d/50-site.hs").write_text('include "/etc/shadow"\n')
    outcome = hotsync("--root", sandbox, "compile")
    assert outcome.err.splitlines()[:2] == [
        "/etc/hotsync/rules.d/50-site.hs:1:1: error: include \"/etc/shadow\" is refused: rule files are read "
        "only from /etc/hotsync/ and their names end in '.hs'",
        '    include "/etc/shadow"',
    ]


@pytest.mark.parametrize("target", ["{ROOT}/etc/shadow", "../../shadow", "/etc/passwd"])
def test_a_rule_file_that_links_outside_the_rule_folder_is_not_read(sandbox, hotsync, target):
    compiled_host(sandbox, **SCENARIOS["master"])
    (sandbox / "etc/shadow").write_text(f"root:{SHADOW_HASH}:19000:0:99999:7:::\n")
    (sandbox / "etc/hotsync/rules.d/50-site.hs").symlink_to(target.replace("{ROOT}", str(sandbox)))
    outcome = hotsync("--root", sandbox, "compile")
    main_rules = (sandbox / "etc/hotsync/hotsync.hs").read_text().splitlines()
    include = next(number for number, line in enumerate(main_rules, 1) if line.startswith('include "rules.d/'))
    assert outcome.code == 1
    assert outcome.err.splitlines()[0] == (
        f"/etc/hotsync/hotsync.hs:{include}:1: error: rule file /etc/hotsync/rules.d/50-site.hs is a link to a file "
        "outside /etc/hotsync/: rule files are read only from there")
    assert SHADOW_HASH not in outcome.err and "root:" not in outcome.err
    assert "Traceback" not in outcome.err


DATABASE_ERRORS = [
    (["hotsync", "role", "master", "SlaveHost", ""],
     "configuration:hotsync.SlaveHost: error: this host is a master but has no slave host: run 'config setprop hotsync SlaveHost ADDRESS'"),
    (["hotsync", "role", "slave", "MasterHost", ""],
     "configuration:hotsync.MasterHost: error: this host is a slave but has no master host: run 'config setprop hotsync MasterHost ADDRESS'"),
    (["rsyncd", "password", ""],
     "configuration:rsyncd.password: error: the password is empty: set one with 'config setprop rsyncd password SECRET' on both hosts"),
    (["rsyncd", "password", "short"],
     "configuration:rsyncd.password: error: the password is too short: use at least 12 characters"),
    (["hotsync", "SlaveHost", "not_a host"],
     "configuration:hotsync.SlaveHost: error: 'not_a host' is not an IPv4/IPv6 address or a host name"),
    (["hotsync", "SlavePort", "0"],
     "configuration:hotsync.SlavePort: error: '0' is not a TCP port (expected a number from 1 to 65535)"),
    (["hotsync", "role", "primary"],
     "configuration:hotsync.role: error: 'primary' is not a role (expected master, slave, server or empty)"),
]


@pytest.mark.parametrize("props, message", DATABASE_ERRORS, ids=lambda value: str(value)[:40])
def test_each_bad_setting_is_reported_with_its_database_key(sandbox, hotsync, props, message):
    compiled_host(sandbox, **SCENARIOS["master"])
    admin(sandbox, "config", "setprop", *props, in_process=True)
    before = tree_digest(sandbox)
    outcome = hotsync("--root", sandbox, "compile")
    assert outcome.code == 1
    assert outcome.err.splitlines()[0] == message
    assert tree_digest(sandbox) == before


# Every database value that reaches a generated file, each with a value that would add a
# line or an option there if it were not checked.
INJECTIONS = [
    ("hotsync", "SlaveHost", "10.0.0.2\nexec = /bin/sh"),
    ("hotsync", "SlaveHost", "10.0.0.2 # comment"),
    ("hotsync", "MasterHost", "10.0.0.1\n[evil]"),
    ("hotsync", "SlavePort", "273\n[evil]\naccept = 1"),
    ("rsyncd", "TCPPort", "873 ; x"),
    ("rsyncd", "password", "long-enough-secret\nroot:owned"),
    ("rsyncd", "password", " long-enough-secret"),
    ("hotsync", "role", "master\nslave"),
    ("hotsync", "status", "enabled; rm -rf /"),
    ("hotsync", "databases", "enabled`id`"),
    ("hotsync", "Compress", "on$(id)"),
    ("hotsync", "MaxDeletePercent", "20\n"),
    ("hotsync", "IoTimeout", "600 --rsh=sh"),
    ("hotsync", "NotifyTo", "root@example.com\nBcc: spy@example.com"),
]


@pytest.mark.parametrize("key, prop, value", INJECTIONS, ids=lambda value: value if isinstance(value, str) else "")
@pytest.mark.parametrize("role", ["master", "slave"])
def test_injection_through_the_database_is_rejected_and_nothing_changes(sandbox, hotsync, key, prop, value, role):
    compiled_host(sandbox, **SCENARIOS[role])
    # The database stores newlines escaped; write the hostile value as the Perl tools would.
    from hotsync.nethserver.esmith import database_path, edit_database
    from hotsync.root import Root

    with edit_database(database_path(Root(sandbox))) as session:
        session.set_prop(key, prop, value)
    before = tree_digest(sandbox)
    outcome = hotsync("--root", sandbox, "compile")
    assert outcome.code == 1, outcome.out
    assert outcome.err.startswith(f"configuration:{key}.{prop}: error: ") or (
        role == "master" and prop == "MasterHost") or (role == "slave" and prop == "SlaveHost")
    assert "Traceback" not in outcome.err
    assert tree_digest(sandbox) == before


def test_check_writes_nothing_and_lists_what_would_change(sandbox):
    compiled_host(sandbox, **SCENARIOS["master"])
    admin(sandbox, "config", "setprop", "hotsync", "SlaveHost", "192.168.1.9")
    before = tree_digest(sandbox)
    outcome = run_hotsync("--root", sandbox, "compile", "--check")
    assert outcome.code == 0
    assert outcome.out.splitlines() == [
        "would update: /var/lib/nethserver/hotsync/plan.json",
        "would update: /etc/hotsync.conf",
        "would update: /etc/stunnel/stunnel.conf",
    ]
    assert tree_digest(sandbox) == before


def test_check_exit_codes(sandbox):
    compiled_host(sandbox, **SCENARIOS["master"])
    assert run_hotsync("--root", sandbox, "compile", "--check").code == 0
    assert run_hotsync("--root", sandbox, "compile", "--check", "--bogus").code == 2
    admin(sandbox, "config", "setprop", "hotsync", "SlavePort", "99999")
    assert run_hotsync("--root", sandbox, "compile", "--check").code == 1


def test_diff_shows_the_change_against_the_disk_and_hides_secrets(sandbox):
    compiled_host(sandbox, **SCENARIOS["slave"])
    admin(sandbox, "config", "setprop", "hotsync", "MasterHost", "192.168.1.7")
    admin(sandbox, "config", "setprop", "rsyncd", "password", WRONG_PASSWORD)
    before = tree_digest(sandbox)
    outcome = run_hotsync("--root", sandbox, "compile", "--check", "--diff")
    assert outcome.code == 0
    assert "-MASTER_HOST='192.168.1.1'\n+MASTER_HOST='192.168.1.7'" in outcome.out
    assert "(secret file updated; content not shown)" in outcome.out
    assert WRONG_PASSWORD not in outcome.out and PASSWORD not in outcome.out
    assert tree_digest(sandbox) == before


def test_json_diagnostics_for_a_web_ui(sandbox):
    compiled_host(sandbox, **SCENARIOS["master"])
    admin(sandbox, "config", "setprop", "hotsync", "SlaveHost", "")
    outcome = run_hotsync("--root", sandbox, "compile", "--check", "--json")
    assert outcome.code == 1
    report = json.loads(outcome.out)
    assert report["valid"] is False
    assert report["diagnostics"] == [{
        "file": "configuration:hotsync.SlaveHost", "line": 0, "column": 0, "severity": "error",
        "message": "this host is a master but has no slave host: run 'config setprop hotsync SlaveHost ADDRESS'",
    }]


def test_unchanged_files_are_not_rewritten(sandbox):
    compiled_host(sandbox, **SCENARIOS["master"])
    stunnel = sandbox / "etc/stunnel/stunnel.conf"
    inode = stunnel.stat().st_ino
    outcome = admin(sandbox, "compile")
    assert outcome.out.strip() == "configuration is valid; all files are up to date"
    assert stunnel.stat().st_ino == inode


def test_a_failing_render_writes_nothing(sandbox, hotsync, monkeypatch):
    compiled_host(sandbox, **SCENARIOS["master"])
    admin(sandbox, "config", "setprop", "hotsync", "SlaveHost", "192.168.1.9")
    before = tree_digest(sandbox)
    broken = sandbox.parent / "broken-templates"
    broken.mkdir()
    for template in (render.shipped_folder("templates")).glob("*.j2"):
        (broken / template.name).write_text(template.read_text())
    (broken / "cron.j2").write_text("{{ plan.no_such_field }}\n")  # the last file rendered
    monkeypatch.setattr(render, "shipped_folder", lambda name: broken)
    render.template_environment.cache_clear()
    try:
        outcome = hotsync("--root", sandbox, "compile")
    finally:
        render.template_environment.cache_clear()
    assert outcome.code == 1
    assert "cron.j2" in outcome.err and "no_such_field" in outcome.err
    assert tree_digest(sandbox) == before


@pytest.fixture
def tunnel_pair(make_host):
    """A master and a slave on loopback with real stunnel; the builder stops every daemon afterwards."""

    def make(master_password, slave_password):
        tunnel_port, rsync_port, client_port = free_port(), free_port(), free_port()
        slave = make_host("slave", "slave", password=slave_password, tunnel_port=tunnel_port, rsync_port=rsync_port)
        master = make_host("master", "master", password=master_password, tunnel_port=tunnel_port,
                           rsync_port=client_port)
        for host in (slave, master):
            host.admin("signal-event", "nethserver-hotsync-save")
        (slave.root / "srv").mkdir()
        (slave.root / "srv/marker").write_text("slave data\n")
        return master.root, slave.root, client_port

    return make


def push_through_tunnel(master: Path, client_port: int):
    """A file pushed from the master into the slave's /srv/ through the tunnel (the slave's modules are write only)."""
    import subprocess

    source = master / "srv/from-master.txt"
    source.parent.mkdir(parents=True, exist_ok=True)
    source.write_text("pushed through the tunnel\n")
    return subprocess.run(
        ["rsync", "--timeout=10", f"--password-file={master}/etc/hotsync/rsync.password", str(source),
         f"rsync://hotsyncuser@127.0.0.1:{client_port}/hotsync/srv/"],
        capture_output=True, text=True, timeout=30,
    )


def test_the_tunnel_carries_rsync_when_both_hosts_share_the_secret(tunnel_pair):
    master, slave, client_port = tunnel_pair(PASSWORD, PASSWORD)
    pushed = push_through_tunnel(master, client_port)
    assert pushed.returncode == 0, pushed.stderr
    assert (slave / "srv/from-master.txt").read_text() == "pushed through the tunnel\n"


def test_real_stunnel_refuses_a_peer_with_the_wrong_key(tunnel_pair):
    master, slave, client_port = tunnel_pair(WRONG_PASSWORD, PASSWORD)
    pushed = push_through_tunnel(master, client_port)
    assert pushed.returncode != 0
    assert not (slave / "srv/from-master.txt").exists()
    assert wait_for_log_line(slave / "var/log/stunnel.log", "SSL_accept"), "the slave's stunnel logged no refusal"


def wait_for_log_line(log: Path, text: str, seconds: float = 10) -> bool:
    """True once ``text`` appears in ``log`` (stunnel writes its log lines a moment after the event)."""
    import time

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if log.exists() and text in log.read_text():
            return True
        time.sleep(0.1)
    return False


def test_the_plan_keeps_the_order_of_statements_across_conditions(sandbox):
    compiled_host(sandbox, **SCENARIOS["slave"])
    (sandbox / "etc/hotsync/rules.d/order.hs").write_text(
        "package pbx {\n"
        "    promote restart first\n"
        "    when databases { dump mysql calls into /var/backup/; promote restore mysql calls }\n"
        "    promote restart last\n"
        "}\n"
    )
    admin(sandbox, "compile", "--quiet", in_process=True)
    plan = json.loads((sandbox / "var/lib/nethserver/hotsync/plan.json").read_text())
    steps = [
        (step["kind"], step["arguments"] or step["databases"], [c["kind"] for c in rule["conditions"]])
        for rule in plan["rules"] if rule["name"] == "pbx" for step in rule["promote"]
    ]
    assert steps == [
        ("restart", ["first"], ["installed"]),
        ("restore", ["calls"], ["installed", "databases"]),
        ("restart", ["last"], ["installed"]),
    ]
    restore = next(step for rule in plan["rules"] if rule["name"] == "pbx" for step in rule["promote"] if step["kind"] == "restore")
    assert restore["dump_targets"] == ["/var/backup/calls.dump"]


def test_compiling_a_host_without_rules_says_to_install_and_writes_nothing(sandbox, hotsync):
    outcome = hotsync("--root", sandbox, "compile")
    assert outcome.code == 1
    assert outcome.err.splitlines()[0] == (
        "/etc/hotsync/hotsync.hs: error: cannot read rule file /etc/hotsync/hotsync.hs: No such file or "
        "directory; run 'hotsync install' to put the shipped rules in place")
    assert list(sandbox.iterdir()) == []
