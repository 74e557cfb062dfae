"""``hotsync config``: every verb's output and exit code, and bad input that changes nothing."""

import io
import json
import os
import stat
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import NamedTuple

import pytest
from support.runner import admin, run_hotsync

from hotsync.nethserver.esmith import HEADER, read_database

DB = "var/lib/nethserver/db/configuration"

STARTING_RECORDS = (
    "hotsync=configuration|MasterHost||SlaveHost|10.0.0.2|role|master|status|enabled\n"
    "motd=text|banner|hello\\nworld|note|a \\| b = c\n"
    "plain=some value\n"
    "empty=\n"
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


# --- reading verbs: the expected text is what NethServer's Perl tool printed for the same file ---
# (nethserver-lib 2.2.11, "db FILE VERB ...", run by hand against this database)


def test_keys_lists_every_key_sorted(config):
    assert config("keys") == (0, "empty\nhotsync\nmotd\nplain\n", "")


def test_print_shows_each_record_as_stored_with_its_newlines_restored(config):
    assert config("print") == (0, (
        "empty=\n"
        "hotsync=configuration|MasterHost||SlaveHost|10.0.0.2|role|master|status|enabled\n"
        "motd=text|banner|hello\nworld|note|a \\| b = c\n"
        "plain=some value\n"), "")
    assert config("print", "motd") == (0, "motd=text|banner|hello\nworld|note|a \\| b = c\n", "")
    assert config("print", "nokey") == (1, "", "")


def test_get_prints_the_record_as_stored(config):
    assert config("get", "hotsync") == (0, "configuration|MasterHost||SlaveHost|10.0.0.2|role|master|status|enabled\n", "")
    assert config("get", "motd") == (0, "text|banner|hello\nworld|note|a \\| b = c\n", "")
    assert config("get", "plain") == (0, "some value\n", "")
    assert config("get", "empty") == (0, "\n", "")
    assert config("get", "nokey") == (1, "", "")


def test_gettype_and_printtype(config):
    assert config("gettype", "hotsync") == (0, "configuration\n", "")
    assert config("gettype", "plain") == (0, "some value\n", "")
    assert config("gettype", "nokey") == (1, "", "")
    assert config("printtype") == (0, "empty=\nhotsync=configuration\nmotd=text\nplain=some value\n", "")
    assert config("printtype", "motd") == (0, "motd=text\n", "")
    assert config("printtype", "nokey") == (1, "", "")


def test_getprop_prints_the_value_as_stored_or_exits_1(config):
    assert config("getprop", "hotsync", "SlaveHost") == (0, "10.0.0.2\n", "")
    assert config("getprop", "hotsync", "MasterHost") == (0, "\n", "")
    assert config("getprop", "motd", "note") == (0, "a \\| b = c\n", "")
    assert config("getprop", "motd", "banner") == (0, "hello\nworld\n", "")
    assert config("getprop", "hotsync", "type") == (1, "", "")
    assert config("getprop", "hotsync", "missing") == (1, "", "")
    assert config("getprop", "nokey", "role") == (1, "", "")


def test_printprop_prints_all_sorted_or_those_asked_in_their_order(config):
    assert config("printprop", "hotsync") == (0, "MasterHost=\nSlaveHost=10.0.0.2\nrole=master\nstatus=enabled\n", "")
    assert config("printprop", "hotsync", "status", "nope", "role") == (0, "status=enabled\nrole=master\n", "")
    assert config("printprop", "motd") == (0, "banner=hello\nworld\nnote=a \\| b = c\n", "")
    assert config("printprop", "empty") == (1, "", "")
    assert config("printprop", "nokey") == (1, "", "")


def test_show_prints_each_record_then_its_properties_without_blank_lines(config):
    assert config("show") == (0, (
        "empty=\n"
        "hotsync=configuration\n"
        "    MasterHost=\n"
        "    SlaveHost=10.0.0.2\n"
        "    role=master\n"
        "    status=enabled\n"
        "motd=text\n"
        "    banner=hello\n"
        "world\n"
        "    note=a \\| b = c\n"
        "plain=some value\n"), "")
    assert config("show", "motd") == (0, "motd=text\n    banner=hello\nworld\n    note=a \\| b = c\n", "")
    assert config("show", "nokey") == (1, "", "")


def test_printjson_and_getjson_print_one_line_without_a_newline(config):
    outcome = config("printjson")
    assert outcome.code == 0 and "\n" not in outcome.out
    # Perl's hash order is random: the same objects, compared as data
    assert json.loads(outcome.out) == [
        {"name": "empty", "type": ""},
        {"name": "hotsync", "type": "configuration",
         "props": {"MasterHost": "", "SlaveHost": "10.0.0.2", "role": "master", "status": "enabled"}},
        {"name": "motd", "type": "text", "props": {"banner": "hello\nworld", "note": "a \\| b = c"}},
        {"name": "plain", "type": "some value"},
    ]
    assert config("printjson", "motd").out == (
        '{"name":"motd","type":"text","props":{"banner":"hello\\nworld","note":"a \\\\| b = c"}}')
    assert config("getjson", "plain") == (0, '{"name":"plain","type":"some value"}', "")
    assert config("printjson", "nokey") == (1, "", "")


def test_showjson_indents_as_perls_json_module(config):
    assert config("showjson", "plain") == (0, '{\n   "name" : "plain",\n   "type" : "some value"\n}\n\n', "")
    outcome = config("showjson")
    assert outcome.out.startswith('[\n   {\n      "name" : "empty",\n      "type" : ""\n   },\n   {\n')
    assert '      "props" : {\n         "MasterHost" : "",\n' in outcome.out
    assert outcome.out.endswith("]\n\n")
    assert config("showjson", "nokey") == (1, "", "")


def test_reading_a_missing_database_is_empty(hotsync, sandbox):
    assert run_config(hotsync, sandbox, "keys") == (1, "", "")
    assert run_config(hotsync, sandbox, "show") == (1, "", "")
    assert run_config(hotsync, sandbox, "printjson") == (0, "[]", "")
    assert run_config(hotsync, sandbox, "getprop", "hotsync", "role") == (1, "", "")
    assert not (sandbox / DB).exists()


# --- records the Perl tools wrote oddly: read as they read them, with a warning ------------

ODD_RECORDS = (
    "sshd=service|Banner|a|b|status|enabled\n"  # config setprop sshd Banner 'a|b' wrote a raw '|'
    "dup=x|p|1|p|2\n"
    "dup=y|q|3|q|4\n"
    "hotsync=configuration|role|master\n"
)


@pytest.fixture
def odd(hotsync, sandbox):
    database = sandbox / DB
    database.parent.mkdir(parents=True)
    database.write_text(ODD_RECORDS)
    return lambda *arguments: run_config(hotsync, sandbox, *arguments)


def test_odd_records_read_as_the_perl_tool_shows_them(odd):
    assert odd("show").out == (
        "dup=y\n    q=4\n"
        "hotsync=configuration\n    role=master\n"
        "sshd=service\n    Banner=a\n    b=status\n    enabled=\n")
    assert odd("get", "sshd").out == "service|Banner|a|b|status|enabled\n"
    assert odd("printprop", "sshd").out == "Banner=a\nb=status\nenabled=\n"
    assert odd("getprop", "sshd", "enabled")[:2] == (1, "")
    assert odd("getprop", "sshd", "b").out == "status\n"
    assert odd("getprop", "dup", "q").out == "4\n"
    assert json.loads(odd("printjson", "sshd").out) == {
        "name": "sshd", "type": "service", "props": {"Banner": "a", "b": "status", "enabled": None}}


def test_odd_records_are_warned_about_with_file_and_line_and_never_block(odd, sandbox):
    outcome = odd("getprop", "hotsync", "role")
    assert (outcome.code, outcome.out) == (0, "master\n")
    path = sandbox / DB
    assert outcome.err.splitlines() == [
        f"hotsync: {path}:1: warning: record 'sshd' has a property without a value ('enabled' is read as absent):"
        " a raw '|' inside a value, as 'config setprop' writes it, shifts every field after it",
        f"hotsync: {path}:2: warning: record 'dup' has the property 'p' more than once: the last one is read",
        f"hotsync: {path}:3: warning: key 'dup' is defined again (first on line 2): this later line is the one read",
        f"hotsync: {path}:3: warning: record 'dup' has the property 'q' more than once: the last one is read",
    ]
    assert odd("setprop", "hotsync", "role", "slave").code == 0
    assert odd("getprop", "hotsync", "role").out == "slave\n"
    assert "sshd=service|Banner|a|b|status|enabled\n" in path.read_text()  # left as the Perl tool wrote it


def test_an_odd_hotsync_record_can_be_repaired_with_config(hotsync, sandbox):
    database = sandbox / DB
    database.parent.mkdir(parents=True)
    database.write_text("rsyncd=service|password|ab|cd|status|enabled\n")  # config setprop rsyncd password 'ab|cd'
    assert hotsync("--root", sandbox, "compile", "--check").code == 1

    assert run_config(hotsync, sandbox, "set", "rsyncd", "service", "status", "enabled").code == 0

    assert database.read_text().endswith("rsyncd=service|status|enabled\n")


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


def test_setdefault_creates_a_record_only_when_the_key_does_not_exist(config, host):
    assert config("setdefault", "hotsync", "other", "role", "slave", "SlavePort", "273") == (0, "", "")
    assert config("setdefault", "stunnel", "service", "TCPPort", "273") == (0, "", "")
    database = read_database(host / DB)
    assert database["hotsync"].type == "configuration"
    assert dict(database["hotsync"].props) == {"MasterHost": "", "SlaveHost": "10.0.0.2", "role": "master",
                                               "status": "enabled"}
    assert dict(database["stunnel"].props) == {"TCPPort": "273"}


def test_settype_changes_the_type_and_keeps_the_properties(config, host):
    assert config("settype", "hotsync", "service") == (0, "", "")
    assert config("settype", "nokey", "service") == (1, "", "")
    assert config("get", "hotsync").out == "service|MasterHost||SlaveHost|10.0.0.2|role|master|status|enabled\n"


def test_delete_and_delprop(config, host):
    assert config("delprop", "hotsync", "MasterHost", "status", "absent") == (0, "", "")
    assert config("delete", "plain") == (0, "", "")
    assert config("delete", "nokey") == (1, "", "")
    assert config("delprop", "nokey", "x") == (0, "", "")
    records = [line for line in (host / DB).read_text().splitlines() if not line.startswith("#")]
    assert records == [
        "empty=",
        "hotsync=configuration|SlaveHost|10.0.0.2|role|master",
        "motd=text|banner|hello\\nworld|note|a \\| b = c",
    ]


def test_setjson_replaces_the_records_it_names(config, host, monkeypatch):
    assert config("setjson", '{"name":"hotsync","type":"configuration","props":{"role":"slave","SlavePort":273}}') \
        == (0, "", "")
    monkeypatch.setattr("sys.stdin", io.StringIO(
        '[{"name":"rsyncd","type":"service","props":{"status":"enabled","compress":false}},'
        '{"name":"flag","type":"on"}]'))
    assert config("setjson", "-") == (0, "", "")
    assert config("get", "hotsync").out == "configuration|SlavePort|273|role|slave\n"
    assert config("get", "rsyncd").out == "service|compress|0|status|enabled\n"
    assert config("get", "flag").out == "on\n"


def test_the_apis_null_for_an_empty_role_is_stored_empty(config, host):
    assert config("setjson", '{"name":"hotsync","type":"configuration","props":{"role":null,"status":"enabled"}}') \
        == (0, "", "")
    assert config("get", "hotsync").out == "configuration|role||status|enabled\n"
    assert "null" not in (host / DB).read_text() and "None" not in (host / DB).read_text()


@pytest.mark.parametrize("data", [
    "not json", '{"name":"x"}', '{"name":"x","type":"t","props":[]}', '{"name":"x","type":"t","props":{"p":[1]}}',
    '[{"name":"ok","type":"t"},{"name":"bad|key","type":"t"}]', "42",
])
def test_setjson_refuses_bad_data_in_one_line_and_changes_nothing(config, host, data):
    before = database_bytes(host)
    outcome = config("setjson", data)
    assert outcome.code == 1 and outcome.err.startswith("hotsync: ") and outcome.err.count("\n") == 1
    assert database_bytes(host) == before


def test_a_password_with_a_pipe_is_refused_in_one_line(config, host):
    config("set", "rsyncd", "service", "status", "enabled")
    before = database_bytes(host)
    for arguments in (["setprop", "rsyncd", "password", "long-secret|with-pipe"],
                      ["set", "rsyncd", "service", "password", "a|b"],
                      ["setjson", '{"name":"rsyncd","type":"service","props":{"password":"x|y"}}']):
        outcome = config(*arguments)
        assert outcome == (1, "", "hotsync: the rsyncd password must not contain '|': NethServer's tools strip it"
                                  " or cut the record there; choose one without '|' and set it on both hosts\n")
    assert database_bytes(host) == before


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


def test_a_line_without_a_record_is_a_warning_and_the_file_stays_as_it_was(config, host):
    corrupt = HEADER + STARTING_RECORDS + "broken line\n"
    (host / DB).write_text(corrupt)
    line = corrupt.count("\n")
    outcome = config("keys")
    assert (outcome.code, outcome.out) == (0, "empty\nhotsync\nmotd\nplain\n")
    assert outcome.err == (f"hotsync: {host / DB}:{line}: warning: line has no '=': key 'broken line' has no type"
                           " and no properties, as if it did not exist\n")
    assert (host / DB).read_text() == corrupt


def test_help_names_every_verb(config):
    outcome = config("--help")
    assert outcome.code == 0
    for verb in ("keys", "print", "printjson", "show", "showjson", "get", "getjson", "set", "setjson", "setdefault",
                 "delete", "printtype", "gettype", "settype", "printprop", "getprop", "setprop", "delprop"):
        assert f"  {verb} " in outcome.out


# --- real processes -----------------------------------------------------------------


def test_concurrent_config_processes_lose_no_update(host):
    def set_one(index):
        return run_hotsync("--root", host, "config", "setprop", "hotsync", f"p{index:02d}", str(index))

    with ThreadPoolExecutor(max_workers=8) as pool:
        outcomes = list(pool.map(set_one, range(24)))
    assert [outcome.code for outcome in outcomes] == [0] * 24
    props = read_database(host / DB)["hotsync"].props
    assert all(props[f"p{index:02d}"] == str(index) for index in range(24))
    assert props["role"] == "master"


def test_a_real_process_reports_exit_codes(host):
    assert run_hotsync("--root", host, "config", "getprop", "hotsync", "role").code == 0
    assert run_hotsync("--root", host, "config", "getprop", "hotsync", "nothing").code == 1
    bad = run_hotsync("--root", host, "config", "setprop", "hotsync", "role")
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


def test_an_unreadable_database_is_one_line_for_every_command(hotsync, sandbox, make_host):
    make_host(role="master", root=sandbox)
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
