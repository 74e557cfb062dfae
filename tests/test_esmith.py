"""The e-smith database: the exact file format, locked edits, corrupt files, defaults."""

import multiprocessing
import os
import re
from types import MappingProxyType

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hotsync.nethserver import esmith
from hotsync.nethserver.esmith import (
    CorruptDatabase,
    InvalidDatabaseEntry,
    InvalidDefaults,
    Record,
    apply_database_defaults,
    database_path,
    edit_database,
    format_database,
    parse_database,
    read_database,
)
from hotsync.root import Root

# A file as the Perl writer leaves it: its own header (with the timestamp line), keys
# and properties sorted, '|' in a value escaped, a newline stored as backslash-n.
PERL_HEADER = (
    "# DO NOT MODIFY THIS FILE.\n"
    "# This file is automatically maintained by NethServer\n"
    "# configuration software.  Manually editing this file may put your \n"
    "# system in an unknown state.\n"
    "#\n"
)
PERL_WRITTEN = (
    PERL_HEADER +
    "# updated: Mon Mar  4 10:00:00 2024\n"
    "SystemName=nethserver\n"
    "hotsync=configuration|MasterHost||SlaveHost|192.168.1.2|SlavePort|273|databases|enabled"
    "|role|master|status|enabled\n"
    "motd=text|banner|line one\\nline two|note|a \\| b = c\n"
    "rsyncd=service|TCPPort|873|password|s3=cr\\|et|status|disabled\n"
    "\n"
    "   # an indented comment is a comment too\n"
    "stunnel=service|TCPPort|273|access||status|disabled\n"
)

# Perl's "scalar localtime": day of the month padded with a space
UPDATED_LINE = re.compile(r"# updated: (Mon|Tue|Wed|Thu|Fri|Sat|Sun) [A-Z][a-z]{2} [ 123]\d \d\d:\d\d:\d\d \d{4}\n")


def without_updated_line(text: str) -> str:
    lines = text.splitlines(keepends=True)
    assert UPDATED_LINE.fullmatch(lines[5]), lines[5]
    return "".join(lines[:5] + lines[6:])


def test_a_written_file_starts_with_the_header_nethservers_writer_puts(tmp_path):
    path = tmp_path / "configuration"
    with edit_database(path) as session:
        session.set_record("hotsync", "configuration")
    text = path.read_text()
    assert text.startswith(PERL_HEADER + "# updated: ")
    assert without_updated_line(text) == PERL_HEADER + "hotsync=configuration\n"
    assert UPDATED_LINE.fullmatch(esmith.format_database({}, updated=86400 * 9).splitlines(keepends=True)[5])


# --- reading -----------------------------------------------------------------


def test_reads_a_perl_written_file(tmp_path):
    path = tmp_path / "configuration"
    path.write_text(PERL_WRITTEN)
    database = read_database(path)
    assert list(database) == ["SystemName", "hotsync", "motd", "rsyncd", "stunnel"]
    assert database.get_type("SystemName") == "nethserver"
    assert database["SystemName"].props == {}
    assert database.get_prop("hotsync", "MasterHost") == ""
    assert database.get_prop("hotsync", "SlaveHost") == "192.168.1.2"
    assert database.get_prop("motd", "banner") == "line one\nline two"
    assert database.get_prop("motd", "note") == "a | b = c"
    assert database.get_prop("rsyncd", "password") == "s3=cr|et"
    assert database.get_prop("rsyncd", "status") == "disabled"
    assert database.get_prop("stunnel", "access") == ""
    assert database.get_prop("stunnel", "type") == "service"


def test_missing_props_and_keys_give_the_default(tmp_path):
    path = tmp_path / "configuration"
    path.write_text(PERL_WRITTEN)
    database = read_database(path)
    assert database.get_prop("hotsync", "nothing", "fallback") == "fallback"
    assert database.get_prop("nokey", "role", "x") == "x"
    assert database.get_type("nokey") is None


def test_a_missing_file_is_an_empty_database(tmp_path):
    database = read_database(tmp_path / "nowhere")
    assert len(database) == 0
    assert not (tmp_path / "nowhere").exists()


def test_what_is_read_cannot_be_changed(tmp_path):
    path = tmp_path / "configuration"
    path.write_text(PERL_WRITTEN)
    database = read_database(path)
    record = database["hotsync"]
    assert isinstance(record.props, MappingProxyType)
    with pytest.raises(TypeError):
        record.props["role"] = "slave"
    with pytest.raises(AttributeError):
        record.type = "other"
    with pytest.raises(TypeError):
        database["new"] = record


# --- writing: the exact bytes ---------------------------------------------------


def test_a_write_produces_exactly_what_the_perl_writer_would(tmp_path):
    path = tmp_path / "configuration"
    with edit_database(path) as session:
        session.set_record("stunnel", "service", {"status": "disabled", "access": "", "TCPPort": "273"})
        session.set_record("SystemName", "nethserver")
        session.set_record("motd", "text", {"note": "a | b = c", "banner": "line one\nline two"})
        session.set_record("hotsync", "configuration", {"role": "master", "SlaveHost": "10.0.0.2"})
    expected = PERL_HEADER + (
        "SystemName=nethserver\n"
        "hotsync=configuration|SlaveHost|10.0.0.2|role|master\n"
        "motd=text|banner|line one\\nline two|note|a \\| b = c\n"
        "stunnel=service|TCPPort|273|access||status|disabled\n"
    )
    assert without_updated_line(path.read_text()) == expected
    assert path.stat().st_mode & 0o777 == 0o600  # it holds the shared secret


def test_a_perl_file_reads_back_identically_after_our_rewrite(tmp_path):
    path = tmp_path / "configuration"
    path.write_text(PERL_WRITTEN)
    before = read_database(path)
    with edit_database(path) as session:
        session.set_prop("SystemName", "extra", "1")
        session.delete_prop("SystemName", "extra")
        session.set_record("touched", "x")
    after = read_database(path)
    assert {key: after[key] for key in before} == dict(before)
    # every record line we wrote is byte-for-byte the Perl line
    perl_lines = {line for line in PERL_WRITTEN.splitlines() if "=" in line and "#" not in line}
    our_lines = {line for line in path.read_text().splitlines() if not line.startswith("#")}
    assert our_lines == perl_lines | {"touched=x"}


def test_no_change_means_no_write(tmp_path):
    path = tmp_path / "configuration"
    path.write_text(PERL_WRITTEN)
    inode = path.stat().st_ino
    with edit_database(path) as session:
        session.set_prop("hotsync", "role", "master")  # the value it already has
        session.set_default("hotsync", "configuration", {"role": "slave"})
        session.delete("nokey")
        assert not session.changed
    assert path.read_text() == PERL_WRITTEN
    assert path.stat().st_ino == inode


def test_no_change_on_a_missing_file_creates_nothing(tmp_path):
    path = tmp_path / "db" / "configuration"
    with edit_database(path) as session:
        session.set_prop("hotsync", "role", "master")  # no such key: nothing
    assert not path.exists()


def test_an_exception_inside_the_edit_writes_nothing(tmp_path):
    path = tmp_path / "configuration"
    path.write_text(PERL_WRITTEN)
    with pytest.raises(RuntimeError):
        with edit_database(path) as session:
            session.set_prop("hotsync", "role", "slave")
            raise RuntimeError("boom")
    assert path.read_text() == PERL_WRITTEN


@pytest.mark.parametrize(
    "change",
    [
        lambda s: s.set_record("a|b", "t"),
        lambda s: s.set_record("a\nb", "t"),
        lambda s: s.set_record("a=b", "t"),
        lambda s: s.set_record("", "t"),
        lambda s: s.set_record(" padded", "t"),
        lambda s: s.set_record("#comment", "t"),
        lambda s: s.set_record("ok", "t|x"),
        lambda s: s.set_record("ok", "t", {"p|q": "v"}),
        lambda s: s.set_record("ok", "t", {"p\nq": "v"}),
        lambda s: s.set_record("ok", "t", {"": "v"}),
        lambda s: s.set_record("ok", "t", {"p\\nq": "v"}),
        lambda s: s.set_record("ok", "t", {"type": "v"}),
        lambda s: s.set_record("ok", "t", {"p": "ends with \\"}),
        lambda s: s.set_record("ok", "t", {"p": "C:\\new"}),
        lambda s: s.set_prop("hotsync", "role", None),
        lambda s: s.set_prop("hotsync", "role", "master\ud800"),  # a surrogate that stands for no byte
        lambda s: s.set_record("key\udfff", "t"),
        lambda s: s.delete_prop("hotsync", "type"),
    ],
)
def test_invalid_input_raises_before_anything_is_written(tmp_path, change):
    path = tmp_path / "configuration"
    path.write_text(PERL_WRITTEN)
    with pytest.raises(InvalidDatabaseEntry):
        with edit_database(path) as session:
            session.set_prop("hotsync", "role", "slave")
            change(session)
    assert path.read_text() == PERL_WRITTEN


def test_session_semantics_follow_e_smith(tmp_path):
    path = tmp_path / "configuration"
    path.write_text(PERL_WRITTEN)
    with edit_database(path) as session:
        assert session.set_prop("nokey", "role", "x") is False
        assert session.get("nokey") is None
        session.set_prop("stunnel", "type", "disabled-service")
        session.set_record("rsyncd", "service", {"status": "enabled"})  # replaces every prop
        session.set_default("hotsync", "ignored-type", {"role": "slave", "new": "n"})
        session.set_default("fresh", "service", {"status": "enabled"})
        session.delete("SystemName")
        session.delete_prop("motd", "note")
        assert session.get_prop("hotsync", "new") == "n"
    database = read_database(path)
    assert database.get_type("stunnel") == "disabled-service"
    assert dict(database["rsyncd"].props) == {"status": "enabled"}
    assert database.get_type("hotsync") == "configuration"
    assert database.get_prop("hotsync", "role") == "master"
    assert database.get_prop("hotsync", "new") == "n"
    assert database["fresh"] == Record("fresh", "service", {"status": "enabled"})
    assert "SystemName" not in database
    assert dict(database["motd"].props) == {"banner": "line one\nline two"}


# --- round trips ----------------------------------------------------------------

_text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=12)
_values = _text.filter(lambda v: not v.endswith("\\") and "\\n" not in v)
_names = _values.filter(lambda n: n and "|" not in n and "\n" not in n and n != "type")
_keys = _names.filter(lambda k: "=" not in k and k == k.strip() and not k.startswith("#"))


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(_keys, st.tuples(_values.filter(lambda t: "|" not in t), st.dictionaries(_names, _values)), max_size=5))
def test_any_valid_database_reads_back_as_written(records):
    database = {key: Record(key, record_type, props) for key, (record_type, props) in records.items()}
    for record in database.values():
        esmith.validate_key(record.key)
        esmith.validate_type(record.type)
        esmith.validate_props(record.props)
    text = format_database(database)
    assert dict(parse_database(text, "configuration")) == database


# --- records the Perl tools wrote oddly: read as they read them ----------------------

ODD = (
    "# DO NOT MODIFY THIS FILE.\n"
    "hotsync=configuration|role|master\n"
    "sshd=service|Banner|a|b|status|enabled\n"
    "dup=x|p|1|p|2\n"
    "dup=y|q|3\n"
    "this line has no equals sign\n"
    "rsyncd=service|password|secret|status\n"
)


def test_odd_records_read_as_the_perl_tools_read_them_with_a_warning_per_line(tmp_path):
    path = tmp_path / "configuration"
    path.write_text(ODD)
    database = read_database(path, used=())
    # the raw '|' of 'config setprop sshd Banner a|b' shifted the fields; the dangling name is absent
    assert dict(database["sshd"].props) == {"Banner": "a", "b": "status"}
    assert database["dup"] == Record("dup", "y", {"q": "3"})  # the later line of a key wins
    assert "this line has no equals sign" not in database
    assert dict(database["rsyncd"].props) == {"password": "secret"}
    messages = [str(warning) for warning in database.warnings]
    assert messages == [
        f"{path}:3: warning: record 'sshd' has a property without a value ('enabled' is read as absent):"
        " a raw '|' inside a value, as 'config setprop' writes it, shifts every field after it",
        f"{path}:4: warning: record 'dup' has the property 'p' more than once: the last one is read",
        f"{path}:5: warning: key 'dup' is defined again (first on line 4): this later line is the one read",
        f"{path}:6: warning: line has no '=': key 'this line has no equals sign' has no type and no properties,"
        " as if it did not exist",
        f"{path}:7: warning: record 'rsyncd' has a property without a value ('status' is read as absent):"
        " a raw '|' inside a value, as 'config setprop' writes it, shifts every field after it",
    ]
    assert "secret" not in "\n".join(messages)  # values may be passwords


def test_an_odd_record_hotsync_uses_stops_the_reader_with_file_and_line(tmp_path):
    path = tmp_path / "configuration"
    path.write_text(ODD)
    with pytest.raises(CorruptDatabase) as caught:
        read_database(path)
    assert str(caught.value) == (
        f"{path}:7: error: record 'rsyncd' has a property without a value ('status' is read as absent):"
        " a raw '|' inside a value, as 'config setprop' writes it, shifts every field after it")
    assert caught.value.exit_code == 1


def test_odd_records_hotsync_does_not_use_never_stop_it(tmp_path):
    path = tmp_path / "configuration"
    path.write_text(ODD.replace("rsyncd=service|password|secret|status\n", "rsyncd=service|password|secret\n"))
    database = read_database(path)
    assert database.get_prop("hotsync", "role") == "master"
    assert len(database.warnings) == 4


def test_an_odd_record_hotsync_uses_is_never_rewritten(tmp_path):
    path = tmp_path / "configuration"
    path.write_text(ODD)
    with pytest.raises(CorruptDatabase):
        with edit_database(path) as session:
            session.set_prop("hotsync", "role", "slave")
    assert path.read_text() == ODD


def test_odd_records_are_written_back_as_they_were_when_another_changes(tmp_path):
    path = tmp_path / "configuration"
    path.write_text(ODD)
    with edit_database(path, used=()) as session:
        session.set_prop("hotsync", "role", "slave")
    records = [line for line in path.read_text().splitlines() if not line.startswith("#")]
    assert records == [
        "dup=y|q|3",  # the line the Perl tools read; the earlier one is gone, as when they write
        "hotsync=configuration|role|slave",
        "rsyncd=service|password|secret|status",
        "sshd=service|Banner|a|b|status|enabled",
    ]


# --- concurrent writers ---------------------------------------------------------


def _write_many(path, worker, count):
    for index in range(count):
        with edit_database(path) as session:
            session.set_prop("load", f"w{worker}_{index:02d}", str(index))


def test_concurrent_writers_lose_no_update(tmp_path):
    path = tmp_path / "configuration"
    with edit_database(path) as session:
        session.set_record("load", "test")
    context = multiprocessing.get_context("fork")
    workers = [context.Process(target=_write_many, args=(path, worker, 25)) for worker in range(8)]
    for process in workers:
        process.start()
    for process in workers:
        process.join(60)
        assert process.exitcode == 0
    props = read_database(path)["load"].props
    assert len(props) == 8 * 25
    assert props["w7_24"] == "24"
    assert sorted(os.listdir(tmp_path)) == ["configuration", "configuration.lock"]


def test_a_lock_file_removed_by_a_perl_writer_is_recreated(tmp_path):
    path = tmp_path / "configuration"
    with edit_database(path) as session:
        session.set_record("a", "t")
    (tmp_path / "configuration.lock").unlink()  # esmith::config unlinks it on unlock
    with edit_database(path) as session:
        session.set_prop("a", "p", "1")
    assert (tmp_path / "configuration.lock").exists()
    assert read_database(path).get_prop("a", "p") == "1"


# --- defaults -------------------------------------------------------------------


def _ship(root, tree, values):
    for relative, value in values.items():
        target = root.path(f"/etc/e-smith/db/configuration/{tree}/{relative}")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(value)


def test_defaults_fill_only_what_is_missing(sandbox):
    root = Root(sandbox)
    _ship(root, "defaults", {
        "hotsync/type": "configuration\n",
        "hotsync/role": "\n",
        "hotsync/status": "enabled\n",
        "hotsync/SlavePort": "273",
        "rsyncd/type": "service\n",
        "rsyncd/TCPPort": "873\n",
        "rsyncd/.keep": "",
    })
    path = database_path(root)
    assert path == sandbox / "var/lib/nethserver/db/configuration"
    with edit_database(path) as session:
        session.set_record("hotsync", "admin-type", {"role": "master", "SlaveHost": "10.0.0.2"})

    changes = apply_database_defaults(root)

    database = read_database(path)
    assert database["hotsync"] == Record(
        "hotsync", "admin-type",
        {"role": "master", "SlaveHost": "10.0.0.2", "status": "enabled", "SlavePort": "273"},
    )
    assert database["rsyncd"] == Record("rsyncd", "service", {"TCPPort": "873"})
    assert [str(change) for change in changes] == [
        "hotsync.SlavePort (default)", "hotsync.status (default)",
        "rsyncd.type (default)", "rsyncd.TCPPort (default)",
    ]
    written = path.read_bytes()
    assert apply_database_defaults(root) == []
    assert path.read_bytes() == written


def test_force_overwrites_and_creates(sandbox):
    root = Root(sandbox)
    _ship(root, "defaults", {"hotsync/type": "configuration", "hotsync/status": "enabled"})
    _ship(root, "force", {"hotsync/status": "disabled\n", "stunnel/type": "service", "stunnel/status": "x"})
    with edit_database(database_path(root)) as session:
        session.set_record("hotsync", "configuration", {"status": "enabled", "role": "slave"})
    changes = apply_database_defaults(root)
    database = read_database(database_path(root))
    assert dict(database["hotsync"].props) == {"status": "disabled", "role": "slave"}
    assert database["stunnel"] == Record("stunnel", "service", {"status": "x"})
    assert all(change.forced for change in changes)


def test_a_default_record_without_type_is_an_error_naming_the_folder(sandbox):
    root = Root(sandbox)
    _ship(root, "defaults", {"hotsync/status": "enabled"})
    with pytest.raises(InvalidDefaults, match="hotsync.*no 'type' file"):
        apply_database_defaults(root)
    assert not database_path(root).exists()


def test_no_shipped_defaults_changes_nothing(sandbox):
    root = Root(sandbox)
    assert apply_database_defaults(root) == []
    assert not database_path(root).exists()


def test_rewriting_a_world_readable_database_takes_away_the_others_access(tmp_path):
    path = tmp_path / "configuration"
    path.write_text("rsyncd=service|password|old-secret\n")
    path.chmod(0o644)
    with edit_database(path) as session:
        session.set_prop("rsyncd", "password", "new-secret")
    assert path.stat().st_mode & 0o777 == 0o640


def test_a_record_copied_from_another_file_is_stored_as_that_file_stores_it(tmp_path):
    """Promotion restores the master's records: one the Perl tools wrote oddly arrives unchanged."""
    backup = parse_database("sshd=service|Banner|a|b|status|enabled\nplain=t|p|1\n", tmp_path / "backup")
    path = tmp_path / "configuration"
    path.write_text("plain=t|p|1\n")
    with edit_database(path) as session:
        session.copy_record("sshd", backup)
        assert session.copy_record("plain", backup) is False
    assert path.read_text().splitlines()[6:] == ["plain=t|p|1", "sshd=service|Banner|a|b|status|enabled"]
    with edit_database(path) as session:
        session.copy_record("sshd", backup)
        assert not session.changed
        session.set_prop("sshd", "status", "disabled")  # a change re-encodes the record
    assert path.read_text().splitlines()[7] == "sshd=service|Banner|a|b|status|status|disabled"
