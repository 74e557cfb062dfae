"""``hotsync config``: every verb's output and exit code, and bad input that changes nothing."""

import json
import os
import stat
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import NamedTuple

import pytest

from helpers import admin, run_hotsync_process, set_up_host
from hotsync.nethserver.esmith import HEADER, read_database

DB = "var/lib/nethserver/db/configuration"

STARTING_RECORDS = (
    "hotsync=configuration|MasterHost||SlaveHost|10.0.0.2|role|master|status|enabled\n"
    "motd=text|banner|hello\\nworld|note|a \\| b = c\n"
    "plain=some value\n"
)


@pytest.fixture
def host(sandbox):
    """A sandbox root whose configuration database holds STARTING_RECORDS."""
    database = sandbox / DB
    database.parent.mkdir(parents=True)
    database.write_text(HEADER + STARTING_RECORDS)
    return sandbox


class Result(NamedTuple):
    """An outcome that also compares equal to a plain ``(code, out, err)`` tuple."""

    code: int
    out: str
    err: str


def run_config(hotsync, root, *arguments) -> Result:
    outcome = hotsync("--root", root, "config", *arguments)
    return Result(outcome.code, outcome.out, outcome.err)


@pytest.fixture
def config(hotsync, host):
    """Run ``hotsync --root HOST config ARGS``."""
    return lambda *arguments: run_config(hotsync, host, *arguments)


def database_bytes(host):
    return (host / DB).read_bytes()


# --- reading verbs ----------------------------------------------------------------


def test_get_prints_the_type_or_the_plain_value(config):
    assert config("get", "hotsync") == (0, "configuration\n", "")
    assert config("get", "plain") == (0, "some value\n", "")


def test_get_of_a_missing_key_prints_nothing_and_exits_1(config):
    assert config("get", "nokey") == (1, "", "")


def test_getprop_prints_the_value_or_exits_1(config):
    assert config("getprop", "hotsync", "SlaveHost") == (0, "10.0.0.2\n", "")
    assert config("getprop", "hotsync", "MasterHost") == (0, "\n", "")
    assert config("getprop", "motd", "note") == (0, "a | b = c\n", "")
    assert config("getprop", "motd", "banner") == (0, "hello\nworld\n", "")
    assert config("getprop", "hotsync", "type") == (0, "configuration\n", "")
    assert config("getprop", "hotsync", "missing") == (1, "", "")
    assert config("getprop", "nokey", "role") == (1, "", "")


def test_show_one_record(config):
    assert config("show", "hotsync") == (
        0,
        "hotsync=configuration\n"
        "    MasterHost=\n"
        "    SlaveHost=10.0.0.2\n"
        "    role=master\n"
        "    status=enabled\n",
        "",
    )
    assert config("show", "nokey") == (1, "", "")


def test_show_everything_separates_records_with_an_empty_line(config):
    outcome = config("show")
    assert outcome.code == 0
    assert outcome.out == (
        "hotsync=configuration\n    MasterHost=\n    SlaveHost=10.0.0.2\n    role=master\n    status=enabled\n\n"
        "motd=text\n    banner=hello\nworld\n    note=a | b = c\n\n"
        "plain=some value\n\n"
    )


def test_keys_lists_every_key_sorted(config):
    assert config("keys") == (0, "hotsync\nmotd\nplain\n", "")


def test_printjson_lists_records_like_nethserver(config):
    outcome = config("printjson")
    assert outcome.code == 0
    assert json.loads(outcome.out) == [
        {"name": "hotsync", "type": "configuration",
         "props": {"MasterHost": "", "SlaveHost": "10.0.0.2", "role": "master", "status": "enabled"}},
        {"name": "motd", "type": "text", "props": {"banner": "hello\nworld", "note": "a | b = c"}},
        {"name": "plain", "type": "some value", "props": {}},
    ]
    single = config("printjson", "plain")
    assert (single.code, json.loads(single.out)) == (0, {"name": "plain", "type": "some value", "props": {}})
    assert config("printjson", "nokey") == (1, "", "")


def test_reading_a_missing_database_is_empty(hotsync, sandbox):
    assert run_config(hotsync, sandbox, "keys") == (0, "", "")
    assert run_config(hotsync, sandbox, "getprop", "hotsync", "role") == (1, "", "")
    assert not (sandbox / DB).exists()


# --- writing verbs ----------------------------------------------------------------


def test_setprop_changes_several_props_at_once(config, host):
    assert config("setprop", "hotsync", "role", "slave", "MasterHost", "10.0.0.1", "note", "x|y") == (0, "", "")
    database = read_database(host / DB)
    assert database.get_prop("hotsync", "role") == "slave"
    assert database.get_prop("hotsync", "MasterHost") == "10.0.0.1"
    assert database.get_prop("hotsync", "note") == "x|y"
    assert (host / DB).read_text().count("note|x\\|y|") == 1


def test_setprop_on_a_missing_key_does_nothing(config, host):
    before = database_bytes(host)
    assert config("setprop", "nokey", "role", "slave") == (0, "", "")
    assert database_bytes(host) == before


def test_setprop_values_may_start_with_a_dash(config, host):
    assert config("setprop", "hotsync", "SlavePort", "-1").code == 0
    assert read_database(host / DB).get_prop("hotsync", "SlavePort") == "-1"


def test_set_creates_or_replaces_the_whole_record(config, host):
    assert config("set", "rsyncd", "service", "status", "enabled", "TCPPort", "873") == (0, "", "")
    assert config("set", "hotsync", "configuration", "role", "slave") == (0, "", "")
    assert config("set", "flag", "on") == (0, "", "")
    text = (host / DB).read_text()
    assert "rsyncd=service|TCPPort|873|status|enabled\n" in text
    assert "hotsync=configuration|role|slave\n" in text
    assert "flag=on\n" in text


def test_setdefault_adds_only_what_is_missing(config, host):
    assert config("setdefault", "hotsync", "other", "role", "slave", "SlavePort", "273") == (0, "", "")
    assert config("setdefault", "stunnel", "service", "TCPPort", "273") == (0, "", "")
    database = read_database(host / DB)
    assert database.get_type("hotsync") == "configuration"
    assert database.get_prop("hotsync", "role") == "master"
    assert database.get_prop("hotsync", "SlavePort") == "273"
    assert database.get_prop("stunnel", "TCPPort") == "273"


def test_delete_and_delprop(config, host):
    assert config("delprop", "hotsync", "MasterHost", "status", "absent") == (0, "", "")
    assert config("delete", "plain") == (0, "", "")
    assert config("delete", "nokey") == (0, "", "")
    assert config("delprop", "nokey", "x") == (0, "", "")
    records = [line for line in (host / DB).read_text().splitlines() if not line.startswith("#")]
    assert records == [
        "hotsync=configuration|SlaveHost|10.0.0.2|role|master",
        "motd=text|banner|hello\\nworld|note|a \\| b = c",
    ]


def test_the_first_write_creates_the_database_with_its_header(hotsync, sandbox):
    assert hotsync("--root", sandbox, "config", "set", "hotsync", "configuration", "role", "master").code == 0
    assert (sandbox / DB).read_text() == HEADER + "hotsync=configuration|role|master\n"
    assert (sandbox / DB).stat().st_mode & 0o777 == 0o600  # it holds the shared secret


# --- bad input: one line on stderr, exit code, database untouched -----------------------

BAD_INPUT = [
    pytest.param(2, [], id="no verb"),
    pytest.param(2, ["frobnicate"], id="unknown verb"),
    pytest.param(2, ["get"], id="get without key"),
    pytest.param(2, ["get", "a", "b"], id="get with two keys"),
    pytest.param(2, ["getprop", "hotsync"], id="getprop without prop"),
    pytest.param(2, ["setprop", "hotsync"], id="setprop without pairs"),
    pytest.param(2, ["setprop", "hotsync", "role"], id="setprop odd count"),
    pytest.param(2, ["setprop", "hotsync", "role", "slave", "status"], id="setprop odd count later"),
    pytest.param(2, ["set", "hotsync"], id="set without type"),
    pytest.param(2, ["set", "hotsync", "configuration", "role"], id="set odd count"),
    pytest.param(2, ["setdefault", "hotsync", "configuration", "role"], id="setdefault odd count"),
    pytest.param(2, ["delete"], id="delete without key"),
    pytest.param(2, ["delprop", "hotsync"], id="delprop without prop"),
    pytest.param(2, ["keys", "extra"], id="keys with argument"),
    pytest.param(2, ["show", "a", "b"], id="show with two keys"),
    pytest.param(1, ["set", "bad|key", "t"], id="pipe in key"),
    pytest.param(1, ["set", "bad\nkey", "t"], id="newline in key"),
    pytest.param(1, ["set", "bad=key", "t"], id="equals in key"),
    pytest.param(1, ["set", "", "t"], id="empty key"),
    pytest.param(1, ["set", "ok", "t|x"], id="pipe in type"),
    pytest.param(1, ["setprop", "hotsync", "ro|le", "slave"], id="pipe in prop"),
    pytest.param(1, ["setprop", "hotsync", "ro\nle", "slave"], id="newline in prop"),
    pytest.param(1, ["setprop", "hotsync", "role", "slave", "note", "ends\\"], id="trailing backslash"),
    pytest.param(1, ["setprop", "bad|key", "role", "slave"], id="pipe in setprop key"),
    pytest.param(1, ["delprop", "hotsync", "type"], id="delprop type"),
    pytest.param(1, ["delete", "bad\nkey"], id="newline in delete key"),
]


@pytest.mark.parametrize("code, arguments", BAD_INPUT)
def test_bad_input_is_one_line_and_leaves_the_database_untouched(config, host, code, arguments):
    before = database_bytes(host)
    outcome = config(*arguments)
    assert outcome.code == code
    assert outcome.out == ""
    assert outcome.err.startswith("hotsync: ")
    assert outcome.err.count("\n") == 1
    assert "Traceback" not in outcome.err
    assert database_bytes(host) == before


def test_a_corrupt_database_is_reported_with_its_line_and_left_alone(config, host):
    corrupt = HEADER + STARTING_RECORDS + "broken line\n"
    (host / DB).write_text(corrupt)
    line = corrupt.count("\n")
    for arguments in (["keys"], ["setprop", "hotsync", "role", "slave"]):
        outcome = config(*arguments)
        assert outcome.code == 1
        assert outcome.err == f"hotsync: {host / DB}:{line}: error: expected 'key=type|prop|value...' " \
                              "but the line has no '='\n"
        assert (host / DB).read_text() == corrupt


def test_help_names_every_verb(config):
    outcome = config("--help")
    assert outcome.code == 0
    for verb in ("get", "getprop", "setprop", "set", "setdefault", "delete", "delprop", "show", "keys", "printjson"):
        assert f"  {verb} " in outcome.out


# --- real processes -----------------------------------------------------------------


def test_concurrent_config_processes_lose_no_update(host):
    def set_one(index):
        return run_hotsync_process("--root", host, "config", "setprop", "hotsync", f"p{index:02d}", str(index))

    with ThreadPoolExecutor(max_workers=8) as pool:
        outcomes = list(pool.map(set_one, range(24)))
    assert [outcome.code for outcome in outcomes] == [0] * 24
    props = read_database(host / DB)["hotsync"].props
    assert all(props[f"p{index:02d}"] == str(index) for index in range(24))
    assert props["role"] == "master"


def test_a_real_process_reports_exit_codes(host):
    assert run_hotsync_process("--root", host, "config", "getprop", "hotsync", "role").code == 0
    assert run_hotsync_process("--root", host, "config", "getprop", "hotsync", "nothing").code == 1
    bad = run_hotsync_process("--root", host, "config", "setprop", "hotsync", "role")
    assert bad.code == 2 and "Traceback" not in bad.err


# --- the database file itself ---------------------------------------------------------


def test_a_database_that_is_a_link_is_written_through_and_stays_a_link(config, host):
    target = host / "srv/settings/configuration"
    target.parent.mkdir(parents=True)
    (host / DB).rename(target)
    (host / DB).symlink_to("../../../../srv/settings/configuration")

    assert config("setprop", "hotsync", "role", "slave").code == 0

    assert (host / DB).is_symlink()
    assert (host / DB).resolve() == target
    assert read_database(target).get_prop("hotsync", "role") == "slave"
    assert config("getprop", "hotsync", "role").out == "slave\n"
    assert sorted(path.name for path in (host / DB).parent.iterdir()) == ["configuration", "configuration.lock"]
    assert sorted(path.name for path in target.parent.iterdir()) == ["configuration"]


def test_a_rewritten_database_keeps_its_mode_owner_and_group(config, host):
    os.chmod(host / DB, 0o640)
    os.chown(host / DB, 1234, 5678)

    assert config("setprop", "hotsync", "role", "slave").code == 0

    status = os.stat(host / DB)
    assert (stat.S_IMODE(status.st_mode), status.st_uid, status.st_gid) == (0o640, 1234, 5678)
    assert read_database(host / DB).get_prop("hotsync", "role") == "slave"


def test_an_unreadable_database_is_one_line_for_every_command(hotsync, sandbox):
    set_up_host(sandbox, "master")
    admin(sandbox, "compile", "--quiet")
    (sandbox / DB).unlink()
    (sandbox / DB).mkdir()  # root reads any file: a folder in its place is what root cannot read
    expected = f"hotsync: cannot read the configuration database {sandbox / DB}: Is a directory\n"

    for command in (("config", "show"), ("config", "setprop", "hotsync", "role", "slave"), ("compile",),
                    ("compile", "--check"), ("sync",)):
        outcome = hotsync("--root", sandbox, *command)
        assert (outcome.code, outcome.err) == (1, expected), command
    # status needs only the plan: it works, and shows the sync that could not read the settings
    status = hotsync("--root", sandbox, "status")
    assert status.code == 0 and "Traceback" not in status.err
    assert f"error: cannot read the configuration database {sandbox / DB}: Is a directory" in status.out


def test_a_database_without_read_permission_is_one_line(hotsync, host, monkeypatch):
    real_read_bytes = Path.read_bytes

    def refuse(path):
        if path == host / DB:
            raise PermissionError(13, "Permission denied", str(path))
        return real_read_bytes(path)

    monkeypatch.setattr(Path, "read_bytes", refuse)
    outcome = run_config(hotsync, host, "show")
    assert outcome == (1, "", f"hotsync: cannot read the configuration database {host / DB}: Permission denied\n")
