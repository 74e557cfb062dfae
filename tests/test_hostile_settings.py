"""Whatever a setting holds, it stays one inert value: the compiler refuses it at its database
key, or every generated file keeps the lines and keys it has with a harmless value.

The settings come from the configuration database, where an admin, a web form or a script
may have put anything: line breaks, quotes, '%', non-ASCII digits, bytes that are not UTF-8.
"""

import json
import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from support.passwords import PASSWORD
from support.runner import admin, run_hotsync
from support.trees import tree_digest

from hotsync.compiler import model, render
from hotsync.compiler import settings as named
from hotsync.compiler.parser import MAIN_RULES_FILE, parse_program
from hotsync.compiler.tunnel_key import CACHE_PATH
from hotsync.nethserver.esmith import InvalidDatabaseEntry, database_path, edit_database
from hotsync.paths import CRON_FILE
from hotsync.root import Root

# A rule reading a dump's connection from the database, so the dump options are covered too.
DUMP_RULE = "rule shop_database {\n    dump mysql shop into /var/lib/shop/ host=setting shopdb.Host port=setting shopdb.Port\n}\n"

# Every setting the rules read, with a harmless value (the baseline of each host).
BENIGN = {
    ("hotsync", "role"): None,  # the host's own role
    ("hotsync", "status"): "enabled",
    ("hotsync", "databases"): "enabled",
    ("hotsync", "SlavePort"): "273",
    ("rsyncd", "TCPPort"): "873",
    ("rsyncd", "password"): PASSWORD,
    ("hotsync", "Compress"): "off",
    ("hotsync", "SyncInterval"): "15",
    ("hotsync", "Mode"): "interval",
    ("hotsync", "BwLimit"): "",
    ("hotsync", "MaxDeletePercent"): "20",
    ("hotsync", "MaxRewritePercent"): "30",
    ("hotsync", "RestorePoints"): "enabled",
    ("hotsync", "RestorePointsKeep"): "2h,2d,14d,8w",
    ("hotsync", "RestorePointsFreeSpace"): "10",
    ("hotsync", "IoTimeout"): "600",
    ("hotsync", "NotifyTo"): "root@localhost",
    ("hotsync", "PromotionGeneration"): "0",
    ("hotsync", "FencePort"): "",
    ("hotsync", "PromotionStarted"): "0",
    ("hotsync", "TunnelAuth"): "",  # empty: the installed stunnel's version decides
    ("hotsync", "FreshnessWarning"): "1350",
    ("hotsync", "FreshnessCritical"): "5400",
    ("hotsync", "MetricsDir"): "/var/lib/node_exporter/textfile_collector",
    ("hotsync", "PromoteFreeSpace"): "1024",
    ("hotsync", "SlaveHost"): "fe80::2%eth0",
    ("hotsync", "MasterHost"): "slave-peer.example.org",
    ("shopdb", "Host"): "db.example.org",
    ("shopdb", "Port"): "3306",
}

# Pieces an attacker would try: line and field breaks of every consumer (stunnel, rsyncd, the
# shell that sources /etc/hotsync.conf, mail headers, cron, jinja), digits int() takes but a
# daemon does not, sizes a daemon or int() refuses, and bytes that are not UTF-8 (the database
# is read with surrogateescape, so a raw byte arrives as a lone surrogate).
HOSTILE_PIECES = [
    "\n", "\r", "\r\n", "\x00", "\t", "\x0b", "\x0c", "\x1b", "\x7f", "\x85", "\u2028", "\u2029",
    "'", '"', "`", "$(id)", "\\x", "%", "%eth0", "%x\n[evil]", ";", "#", "[", "]", "[evil]", "{", "}",
    "{{ password }}", "{% if 1 %}", "|", "=", ":", " ", "\nexec = /bin/sh", "\npre-xfer exec = /bin/sh",
    "²", "２７３", "٣", "-1", "+1", "1_000", "0x1f", "1e3", "9" * 5000, "p" * 600, "é" * 300,
    "\udcff", "\udc80\udc81", "fe80::1%eth0\n",
]
# Line breaks, the commonest way to add a line, drawn as often as all the other pieces.
LINE_BREAKS = ["\n", "\r\n", "\n[evil]", "\n#", "\nexec = /bin/sh", "'\nid\n'"]
_PIECE = st.sampled_from(LINE_BREAKS) | st.sampled_from(HOSTILE_PIECES) | st.text(
    st.characters(blacklist_characters="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"),
    min_size=1, max_size=6)


def hostile_values(benign: str):
    """A hostile piece put into the harmless value or after it, or a few pieces on their own."""
    inserted = st.tuples(st.integers(0, len(benign)), _PIECE).map(
        lambda position_piece: benign[:position_piece[0]] + position_piece[1] + benign[position_piece[0]:])
    appended = _PIECE.map(lambda piece: benign + piece)
    return inserted | appended | st.lists(_PIECE, min_size=1, max_size=3).map("".join)


class Host:
    """A compiled host whose database is put back to its harmless values before each example."""

    def __init__(self, root: Path, role: str):
        self.root, self.role = root, role
        admin(root, "install", "--quiet", in_process=True)
        (root / "etc/hotsync/rules.d/90-shop.hs").write_text(DUMP_RULE)
        admin(root, "config", "set", "shopdb", "service", "Host", BENIGN["shopdb", "Host"],
                         "Port", BENIGN["shopdb", "Port"], in_process=True)
        for (key, prop), value in BENIGN.items():
            if key != "shopdb":
                admin(root, "config", "setprop", key, prop, role if prop == "role" else value, in_process=True)
        admin(root, "compile", "--quiet", in_process=True)
        self.database = database_path(Root(root)).read_bytes()
        self.shapes = generated_shapes(root)

    def reset(self) -> None:
        database_path(Root(self.root)).write_bytes(self.database)


@pytest.fixture(scope="module")
def hosts(tmp_path_factory):
    return {role: Host(tmp_path_factory.mktemp(role) / "host", role) for role in ("master", "slave")}


CONTROL = "[\x00-\x1f\x7f-\x9f\u2028\u2029]"


def generated_shapes(root: Path) -> dict:
    """Each generated file as the list of its lines' shapes (a key, a section, a comment):
    what a value must never change."""
    paths = [path for path, _template, _mode in render.OUTPUT_FILES] + [CACHE_PATH, "/var/lib/nethserver/hotsync/plan.json"]
    shapes = {}
    for path in paths:
        if not (root / path.lstrip("/")).exists():
            continue
        text = (root / path.lstrip("/")).read_text(encoding="utf-8")
        assert not re.search(CONTROL, text.replace("\n", "")), f"{path} holds a control character"
        shapes[path] = _json_shape(json.loads(text)) if path.endswith(".json") else [_line_shape(path, line) for line in text.split("\n")]
    return shapes


def _line_shape(path: str, line: str) -> str:
    stripped = line.strip()
    if path == "/etc/hotsync/rsync.password":
        return "<secret>" if stripped else ""
    if path in ("/etc/rsyncd.secrets", "/etc/stunnel/hotsync.psk") and ":" in line and not stripped.startswith("#"):
        return line.split(":", 1)[0] + ":<secret>"
    if not stripped or stripped.startswith("#"):
        return stripped[:1]
    if path == CRON_FILE:
        # The schedule follows SyncInterval; it must stay five cron fields before the command.
        fields = stripped.split(" ")
        return "<schedule> " + " ".join(fields[5:]) if named.check_cron(" ".join(fields[:5])) else line
    if stripped.startswith("["):
        return stripped
    return line.split("=", 1)[0].strip() + " =" if "=" in line else line


def _json_shape(value):
    """The keys and lengths of JSON data (the plan: the runtime reads each string as one value)."""
    if isinstance(value, dict):
        return {key: _json_shape(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_json_shape(item) for item in value]
    assert not (isinstance(value, str) and re.search(CONTROL, value)), f"{value!r} holds a control character"
    return type(value).__name__


def store(root: Path, key: str, prop: str, value: str) -> None:
    """Put ``value`` into the database as the e-smith tools write it (a raw byte for each
    surrogate); values the format cannot hold are not stored by any tool, so not tried."""
    from hypothesis import reject

    try:
        with edit_database(database_path(Root(root))) as session:
            session.set_prop(key, prop, value)
    except InvalidDatabaseEntry:
        reject()


def settings_read_by_rules(root: Path) -> set:
    """Every KEY.PROP the host's rules read: settings of the global and role blocks, dump options."""
    program, diagnostics = parse_program(Root(root), MAIN_RULES_FILE)
    assert not diagnostics
    values = [assignment.value for kind in (model.GlobalBlock, model.RoleBlock)
              for block in program.items(kind) for assignment in block.assignments]
    for rule in program.items(model.RuleBlock):
        values += [option.value for statement in _statements(rule.body)
                   if isinstance(statement, model.DumpStatement) for option in statement.options]
    return {(value.key, value.prop) for value in values if isinstance(value, model.SettingRef)}


def _statements(body):
    for statement in body:
        yield statement
        if isinstance(statement, model.WhenStatement):
            yield from _statements(statement.then)
            yield from _statements(statement.otherwise)


def assert_refused_at(outcome, key: str, prop: str) -> None:
    """Exit 1, one located line per problem, all at KEY.PROP, the count, and no traceback."""
    lines = outcome.err.split("\n")
    assert outcome.code == 1 and lines[-1] == "", outcome.err
    assert re.fullmatch(r"hotsync: [0-9]+ errors?; nothing was written", lines[-2]), outcome.err
    assert lines[:-2] and all(line.startswith(f"configuration:{key}.{prop}: ") for line in lines[:-2]), outcome.err
    assert any(": error: " in line for line in lines[:-2]), outcome.err
    assert not re.search("[\x00-\x09\x0b-\x1f\x7f]", outcome.err)


def test_every_setting_the_rules_read_is_tried(hosts):
    assert settings_read_by_rules(hosts["master"].root) == set(BENIGN)


@pytest.mark.parametrize("key, prop", sorted(BENIGN), ids=lambda value: value)
@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_a_hostile_value_is_refused_at_its_key_or_changes_no_line(hosts, hotsync, key, prop, data):
    host = hosts[data.draw(st.sampled_from(sorted(hosts)), label="role")]
    benign = host.role if prop == "role" else BENIGN[key, prop]
    value = data.draw(hostile_values(benign), label="value")
    host.reset()
    store(host.root, key, prop, value)
    before = tree_digest(host.root)
    checked = hotsync("--root", host.root, "compile", "--check")
    event("refused" if checked.code else "accepted")
    if checked.code != 0:
        assert_refused_at(checked, key, prop)
        assert tree_digest(host.root) == before
        return
    assert "Traceback" not in checked.err
    compiled = hotsync("--root", host.root, "compile", "--quiet")
    assert compiled.code == 0, compiled.err
    assert generated_shapes(host.root) == host.shapes


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(password=st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7e) | st.sampled_from("é²２€"), min_size=12, max_size=80))
def test_a_password_of_any_printable_characters_reaches_the_secrets_verbatim(hosts, hotsync, password):
    host = hosts["slave"]
    host.reset()
    store(host.root, "rsyncd", "password", password)
    compiled = hotsync("--root", host.root, "compile", "--quiet")
    assert compiled.code == 0, compiled.err
    assert (host.root / "etc/rsyncd.secrets").read_text(encoding="utf-8") == f"hotsyncuser:{password}\n"
    assert generated_shapes(host.root) == host.shapes


# The reported cases, each with the line the admin reads.
REFUSED = [
    ("master", "hotsync", "SlaveHost", "fe80::1%x\n[evil]",
     "'fe80::1%x\\n[evil]' is not an IPv4/IPv6 address or a host name"),
    ("master", "hotsync", "SlaveHost", "fe80::1%eth0;reboot", "'fe80::1%eth0;reboot' is not an IPv4/IPv6 address or a host name"),
    ("slave", "hotsync", "MasterHost", "slave.example\n", "'slave.example\\n' is not an IPv4/IPv6 address or a host name"),
    ("master", "hotsync", "SlaveHost", "a" * 64 + ".example", "'" + "a" * 60 + "...' (72 characters) is not an IPv4/IPv6 address or a host name"),
    ("master", "hotsync", "NotifyTo", "root@localhost\n", "'root@localhost\\n' is not a mail address"),
    ("master", "hotsync", "SlavePort", "²", "'²' is not a TCP port (expected a number from 1 to 65535)"),
    ("master", "hotsync", "SlavePort", "２７３", "'２７３' is not a TCP port (expected a number from 1 to 65535)"),
    ("slave", "rsyncd", "TCPPort", "8７3", "'8７3' is not a TCP port (expected a number from 1 to 65535)"),
    ("master", "hotsync", "IoTimeout", "2147483648",
     "'2147483648' is not a duration (expected a whole number of seconds from 1 to 86400)"),
    ("master", "hotsync", "IoTimeout", "9" * 5000,
     "'" + "9" * 60 + "...' (5000 characters) is not a duration (expected a whole number of seconds from 1 to 86400)"),
    ("master", "hotsync", "MaxDeletePercent", "101", "'101' is not a percentage (expected 0% to 100%)"),
    ("master", "hotsync", "SyncInterval", "0", "'0' is not an interval (expected minutes from 1 to 1440)"),
    ("master", "hotsync", "SyncInterval", "1441", "'1441' is not an interval (expected minutes from 1 to 1440)"),
    ("master", "hotsync", "SyncInterval", "90",
     "'90' is not an interval cron can keep: above 60 minutes use whole hours (120, 180... 1440)"),
    ("master", "hotsync", "SyncInterval", "15 * * * * root /bin/sh #",
     "'15 * * * * root /bin/sh #' is not an interval (expected minutes from 1 to 1440)"),
    ("master", "hotsync", "Mode", "Continuous", "'Continuous' is not a push mode (expected interval or continuous)"),
    ("master", "hotsync", "BwLimit", "1M",
     "'1M' is not a bandwidth limit (expected KiB/s from 1 to 10485760, or empty for none)"),
    ("master", "hotsync", "BwLimit", "-5",
     "'-5' is not a bandwidth limit (expected KiB/s from 1 to 10485760, or empty for none)"),
    ("master", "hotsync", "MaxRewritePercent", "-1", "'-1' is not a percentage (expected 0% to 100%)"),
    ("slave", "hotsync", "RestorePointsFreeSpace", "91",
     "'91' is not a free-space floor (expected a percentage from 0% to 90%)"),
    ("slave", "hotsync", "RestorePointsKeep", "2d,2h,14d,8w",
     "'2d,2h,14d,8w' is not a retention grid (expected four growing spans of hours, days or weeks: "
     "every point, hourly, daily, weekly, such as 2h,2d,14d,8w)"),
    ("slave", "hotsync", "RestorePointsKeep", "2h,2d,14d",
     "'2h,2d,14d' is not a retention grid (expected four growing spans of hours, days or weeks: "
     "every point, hourly, daily, weekly, such as 2h,2d,14d,8w)"),
    ("slave", "hotsync", "PromotionStarted", "１７００００００００", "'１７００００００００' is not a whole number (expected 0, 1, 2... up to 9999999999)"),
    ("slave", "hotsync", "PromotionGeneration", "1" * 5000,
     "'" + "1" * 60 + "...' (5000 characters) is not a whole number (expected 0, 1, 2... up to 9999999999)"),
    ("slave", "rsyncd", "password", "p" * 600, "the password is too long: rsync reads at most 511 bytes of it"),
    ("slave", "rsyncd", "password", "é" * 256, "the password is too long: rsync reads at most 511 bytes of it"),
]


@pytest.mark.parametrize("role, key, prop, value, message", REFUSED, ids=lambda value: str(value)[:24])
def test_each_reported_value_is_refused_at_its_key_and_nothing_changes(hosts, hotsync, role, key, prop, value, message):
    host = hosts[role]
    host.reset()
    store(host.root, key, prop, value)
    before = tree_digest(host.root)
    for mode in (["--check"], []):
        outcome = hotsync("--root", host.root, "compile", *mode)
        assert outcome.err.split("\n")[0] == f"configuration:{key}.{prop}: error: {message}"
        assert_refused_at(outcome, key, prop)
        assert tree_digest(host.root) == before


def test_a_password_with_bytes_that_are_not_utf8_is_refused_by_a_real_process(hosts):
    host = hosts["slave"]
    host.reset()
    database = database_path(Root(host.root))
    database.write_bytes(database.read_bytes().replace(PASSWORD.encode(), b"s3cret-\xff\xfe-passw0rd"))
    before = tree_digest(host.root)
    for mode in (["--check"], []):
        outcome = run_hotsync("--root", host.root, "compile", *mode)
        assert outcome.code == 1
        assert outcome.err == (
            "configuration:rsyncd.password: error: the password holds bytes that are not UTF-8 text: set it "
            "again with 'config setprop rsyncd password SECRET'\nhotsync: 1 error; nothing was written\n")
        assert tree_digest(host.root) == before


def test_a_zone_that_opens_a_section_is_refused_by_a_real_process(hosts):
    host = hosts["master"]
    host.reset()
    store(host.root, "hotsync", "SlaveHost", "fe80::1%x\n[evil]")
    before = tree_digest(host.root)
    outcome = run_hotsync("--root", host.root, "compile")
    assert outcome.code == 1
    assert outcome.err.startswith(
        "configuration:hotsync.SlaveHost: error: 'fe80::1%x\\n[evil]' is not an IPv4/IPv6 address or a host name\n")
    assert "[evil]\n" not in (host.root / "etc/stunnel/stunnel.conf").read_text()
    assert tree_digest(host.root) == before


ACCEPTED = [
    ("master", "SlaveHost", "fe80::1%eth0", "connect = fe80::1%eth0:273"),
    ("master", "SlaveHost", "slave.example.org.", "connect = slave.example.org.:273"),
    ("master", "IoTimeout", "86400", "TIMEOUTidle = 172860"),
    ("master", "SlavePort", "00273", "connect = fe80::2%eth0:273"),
]


@pytest.mark.parametrize("role, prop, value, line", ACCEPTED, ids=lambda value: str(value)[:24])
def test_a_sound_value_still_compiles(hosts, hotsync, role, prop, value, line):
    host = hosts[role]
    host.reset()
    store(host.root, "hotsync", prop, value)
    outcome = hotsync("--root", host.root, "compile")
    assert outcome.code == 0, outcome.err
    assert line in (host.root / "etc/stunnel/stunnel.conf").read_text().split("\n")
    assert generated_shapes(host.root) == host.shapes


def test_the_restore_points_settings_reach_the_slaves_plan(hosts, hotsync):
    host = hosts["slave"]
    host.reset()
    plan_file = host.root / "var/lib/nethserver/hotsync/plan.json"
    assert hotsync("--root", host.root, "compile").code == 0
    default = json.loads(plan_file.read_text())
    assert (default["restore_points_keep"], default["restore_points_free_percent"]) == ([7200, 172800, 1209600, 4838400], 10)
    store(host.root, "hotsync", "RestorePointsKeep", "0h, 1d,7d,4w")
    store(host.root, "hotsync", "RestorePointsFreeSpace", "25")
    outcome = hotsync("--root", host.root, "compile")
    assert outcome.code == 0, outcome.err
    plan = json.loads(plan_file.read_text())
    assert (plan["restore_points_keep"], plan["restore_points_free_percent"]) == ([0, 86400, 604800, 2419200], 25)


@pytest.mark.parametrize("name, value, where", [
    ("slave_host", "10.0.0.2\n[evil]", "plan.slave_host"),
    ("password", "long-enough-secret\x85", "password"),
])
def test_rendering_refuses_a_control_character_the_checks_let_through(hosts, hotsync, monkeypatch, name, value, where):
    host = hosts["master"]
    host.reset()
    kinds = named.ROLE_SETTINGS["master"] if name == "slave_host" else named.GLOBAL_SETTINGS
    monkeypatch.setitem(kinds, name, named.SettingKind(lambda text: text, "", "a check that lets anything through"))
    store(host.root, "hotsync" if name == "slave_host" else "rsyncd", "SlaveHost" if name == "slave_host" else "password", value)
    before = tree_digest(host.root)
    outcome = hotsync("--root", host.root, "compile")
    assert outcome.code == 1
    assert outcome.err == (
        f"hotsync: cannot render the configuration: the value {where} holds a line break or a control character; "
        "nothing was written. The setting it comes from should have been refused: please report this as a bug\n")
    assert tree_digest(host.root) == before
