"""The e-smith key/property database: read, write under a lock, apply shipped defaults.

One record per line, ``key=type|prop|value|prop|value...``; keys and properties are
written sorted, a ``|`` inside a value is written ``\\|`` and a newline ``\\n``; blank lines
and ``#`` lines are ignored. A file written here reads back identically with the Perl
``esmith::DB`` tools, and the other way round.

A line is read as the Perl tools read it, even one they wrote badly (NethServer's
``config setprop KEY PROP 'a|b'`` stores a raw ``|``, which shifts the fields): a later
line of the same key wins, a later property of the same name wins, a name left without
a value is absent. Each such oddity is a ``DatabaseWarning`` naming the file and line;
it blocks only a reader that uses that record (``used``: by default HotSync's own).
An odd record HotSync does not change is written back byte for byte.

Reading gives an immutable ``Database``. Changing goes through ``edit_database``: an
exclusive ``flock`` on ``FILE.lock`` (the semaphore the Perl writers use), a fresh read
under the lock, and one atomic rewrite at the end only when something changed.
"""

import fcntl
import os
import re
import sys
import time
from collections.abc import Mapping as MappingABC
from contextlib import contextmanager
from pathlib import Path
from types import MappingProxyType
from typing import Dict, Iterable, Iterator, List, Mapping, Optional, Sequence, Tuple

from ..errors import HotsyncError
from ..files import write_file_atomic
from ..frozen import field, frozen
from ..paths import DATABASE_FOLDER
from ..root import Root

# The configuration database holds the shared secret (rsyncd.password): never world-readable.
DATABASE_MODE = 0o600
DEFAULT_DATABASE = "configuration"
TYPE_PROPERTY = "type"  # e-smith's name for the record type when used as a property
# The records HotSync reads and writes: an oddity in one of them stops the reader.
HOTSYNC_RECORDS = ("hotsync", "rsyncd", "stunnel")
SECRET_PROPERTIES = {("rsyncd", "password")}

# The header NethServer's writer (esmith::config) puts on every database, word for word
# (the trailing space included), so that a file reads the same whichever tool wrote it last.
HEADER = (
    "# DO NOT MODIFY THIS FILE.\n"
    "# This file is automatically maintained by NethServer\n"
    "# configuration software.  Manually editing this file may put your \n"
    "# system in an unknown state.\n"
    "#\n"
)

# A field separator is a '|' that is not escaped by a backslash.
_SEPARATOR = re.compile(r"(?<!\\)\|")
_ESCAPED_NEWLINE = "\\n"
# A file byte that is not UTF-8 reads as a surrogate from U+DC80 to U+DCFF and is written back
# as that byte; any other surrogate stands for no byte and cannot be written at all.
_UNWRITABLE = re.compile("[\ud800-\udc7f\udd00-\udfff]")


class InvalidDatabaseEntry(HotsyncError):
    """A key, property name or value cannot be stored in an e-smith database."""


@frozen
class DatabaseWarning:
    """A line the Perl tools read, but not as its writer probably meant (values never shown:
    they may be secrets)."""

    path: Path
    line: int
    key: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: warning: {self.message}"


def report_warnings(warnings: Sequence[DatabaseWarning]) -> None:
    """Tell the admin on stderr, one ``hotsync: FILE:LINE: warning: ...`` line each."""
    for warning in warnings:
        print(f"hotsync: {warning}", file=sys.stderr)


class CorruptDatabase(HotsyncError):
    """A record HotSync uses reads oddly (see ``DatabaseWarning``): HotSync will not guess.

    Carries every problem found as ``(line number, message)``; the message has one
    ``FILE:LINE: error: ...`` line per problem. Values are never echoed (they may be secrets).
    """

    def __init__(self, path: Path, problems: List[Tuple[int, str]]):
        self.path = Path(path)
        self.problems = tuple(problems)
        lines = [f"{path}:{number}: error: {message}" for number, message in self.problems]
        super().__init__("\n".join(lines))


class InvalidDefaults(HotsyncError):
    """A shipped defaults tree cannot be applied."""


# ---------------------------------------------------------------------------
# Records and databases (immutable)


@frozen
class Record:
    """One database record: its key, its type and its properties (read-only, sorted)."""

    key: str
    type: str
    props: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self):
        read_only = MappingProxyType(dict(sorted(self.props.items())))
        object.__setattr__(self, "props", read_only)

    def get(self, prop: str, default: Optional[str] = None) -> Optional[str]:
        """The value of ``prop`` (``type`` gives the type, as in e-smith), or ``default``."""
        if prop == TYPE_PROPERTY:
            return self.type
        return self.props.get(prop, default)

    def as_dict(self) -> dict:
        """The record as NethServer's ``config printjson`` shows it."""
        return {"name": self.key, "type": self.type, "props": dict(self.props)}


class Database(MappingABC):
    """A read-only mapping of key -> ``Record``, iterated in sorted key order.

    A database read from a file also keeps each record's text after ``=`` as stored
    (``raw_value``) and the oddities met while reading (``warnings``).
    """

    def __init__(self, records: Mapping[str, Record] = MappingProxyType({}),
                 raw_values: Mapping[str, str] = MappingProxyType({}),
                 warnings: Sequence[DatabaseWarning] = ()):
        self._records = MappingProxyType(dict(sorted(records.items())))
        self._raw_values = MappingProxyType(dict(raw_values))
        self.warnings = tuple(warnings)

    def __getitem__(self, key: str) -> Record:
        return self._records[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._records)

    def __len__(self) -> int:
        return len(self._records)

    def __repr__(self) -> str:
        return f"Database({list(self._records.values())!r})"

    def get_type(self, key: str) -> Optional[str]:
        """The type of ``key``, or None when the record does not exist."""
        record = self._records.get(key)
        return record.type if record else None

    def get_prop(self, key: str, prop: str, default: Optional[str] = None) -> Optional[str]:
        """The value of ``key``'s ``prop``, or ``default`` when the record or prop is missing."""
        record = self._records.get(key)
        return record.get(prop, default) if record else default

    def raw_value(self, key: str) -> Optional[str]:
        """The text after ``key=`` as the file stores it (newlines still escaped), or the
        encoded record for one made in this process; None when the key does not exist."""
        if key not in self._records:
            return None
        if key in self._raw_values:
            return self._raw_values[key]
        return encode_record(self._records[key]).split("=", 1)[1]

    def check_records(self, keys: Iterable[str], path: Path) -> None:
        """Raise ``CorruptDatabase`` when a warning concerns one of ``keys``."""
        wanted = set(keys)
        problems = [(warning.line, warning.message) for warning in self.warnings if warning.key in wanted]
        if problems:
            raise CorruptDatabase(path, problems)


# ---------------------------------------------------------------------------
# The text format


def parse_database(text: str, source: Path) -> Database:
    """Parse the text of a database file as the Perl tools do; ``source`` names the file.

    Never raises: every oddity is in the result's ``warnings`` (see the module's docstring).
    """
    records: Dict[str, Record] = {}
    raw_values: Dict[str, str] = {}
    first_seen: Dict[str, int] = {}
    warnings: List[DatabaseWarning] = []
    # Perl reads lines ending in "\n" only; a "\r" stays part of the line.
    for number, line in enumerate(text.split("\n"), start=1):
        if _is_ignored_line(line):
            continue
        key, equals, raw_value = line.partition("=")
        if key in first_seen:
            warnings.append(DatabaseWarning(
                Path(source), number, key,
                f"key '{key}' is defined again (first on line {first_seen[key]}): this later line is the one read"))
        first_seen.setdefault(key, number)
        if not equals:
            records.pop(key, None)
            raw_values.pop(key, None)
            warnings.append(DatabaseWarning(
                Path(source), number, key,
                f"line has no '=': key '{key}' has no type and no properties, as if it did not exist"))
            continue
        record, oddities = decode_record_leniently(key, raw_value)
        records[key] = record
        raw_values[key] = raw_value
        warnings += [DatabaseWarning(Path(source), number, key, oddity) for oddity in oddities]
    return Database(records, raw_values, warnings)


def format_database(database: Mapping[str, Record], updated: Optional[float] = None) -> str:
    """The whole file for ``database``: the header (``updated`` stamps it, now by default),
    then one line per key in sorted order, each as the file had it when read."""
    if not isinstance(database, Database):
        database = Database(database)
    stamp = time.asctime(time.localtime(updated))
    lines = [f"{key}={database.raw_value(key)}\n" for key in sorted(database)]
    return HEADER + f"# updated: {stamp}\n" + "".join(lines)


def split_fields(raw_value: str) -> List[str]:
    """The fields of a record's stored text, split as the Perl tools split them: on each
    ``|`` not preceded by a backslash, after the escaped newlines are restored; the
    escaped ``\\|`` stays in the field. ``""`` has no field at all."""
    if raw_value == "":
        return []
    return _SEPARATOR.split(raw_value.replace(_ESCAPED_NEWLINE, "\n"))


def perl_properties(raw_value: str) -> Tuple[str, Dict[str, Optional[str]]]:
    """The type and properties the Perl ``config`` tool shows for a stored record: values
    as stored (``\\|`` kept), a later name wins, a name left without a value maps to None."""
    fields = split_fields(raw_value)
    if not fields:
        return "", {}
    props: Dict[str, Optional[str]] = {}
    for index in range(1, len(fields), 2):
        props[fields[index]] = fields[index + 1] if index + 1 < len(fields) else None
    return fields[0], props


def decode_record(line: str) -> Record:
    """One ``key=type|prop|value...`` line as a Record; ValueError when the Perl tools
    would read it otherwise than as written (see ``decode_record_leniently``)."""
    key, equals, raw_value = line.partition("=")
    if not equals:
        raise ValueError("expected 'key=type|prop|value...' but the line has no '='")
    record, oddities = decode_record_leniently(key, raw_value)
    if oddities:
        raise ValueError(oddities[0])
    return record


def decode_record_leniently(key: str, raw_value: str) -> Tuple[Record, List[str]]:
    """The Record the Perl tools read from ``key=raw_value`` (``\\|`` unescaped in the values,
    as ``esmith::DB`` gives them), and what in it is odd."""
    oddities: List[str] = []
    if not key:
        oddities.append("the key before '=' is empty")
    record_type, perl_props = perl_properties(raw_value)
    if len(split_fields(raw_value)) % 2 == 0 and raw_value:
        dangling = [name for name, value in perl_props.items() if value is None]
        oddities.append(
            f"record '{key}' has a property without a value ('{dangling[-1]}' is read as absent):"
            " a raw '|' inside a value, as 'config setprop' writes it, shifts every field after it")
    names = split_fields(raw_value)[1::2]
    for name in sorted({name for name in names if names.count(name) > 1}):
        oddities.append(f"record '{key}' has the property '{name}' more than once: the last one is read")
    if "" in perl_props:
        oddities.append(f"record '{key}' has a property with an empty name")
    if TYPE_PROPERTY in perl_props:
        oddities.append(f"record '{key}' has a property named 'type', which is the record type: it is ignored")
    props = {_unescape_field(name): _unescape_field(value) for name, value in perl_props.items()
             if value is not None and name != TYPE_PROPERTY}
    return Record(key, _unescape_field(record_type), props), oddities


def encode_record(record: Record) -> str:
    """The line (without its newline) the e-smith writer produces for ``record``."""
    fields = [_escape_field(record.type)]
    for name in sorted(record.props):
        fields += [_escape_field(name), _escape_field(record.props[name])]
    return f"{record.key}=" + "|".join(fields).replace("\n", _ESCAPED_NEWLINE)


def _is_ignored_line(line: str) -> bool:
    stripped = line.strip()
    return not stripped or stripped.startswith("#")


def _escape_field(text: str) -> str:
    return text.replace("|", "\\|")


def _unescape_field(text: str) -> str:
    return text.replace("\\|", "|")


# ---------------------------------------------------------------------------
# Validation of what a caller wants to store


def validate_key(key: str) -> None:
    """Raise InvalidDatabaseEntry unless ``key`` can be stored and read back unchanged."""
    _require_text(key, "key")
    _require_writable(key, f"key {key!r}")
    for forbidden, why in (("\n", "a newline"), ("|", "'|'"), ("=", "'='")):
        if forbidden in key:
            raise InvalidDatabaseEntry(f"invalid key {key!r}: a key must not contain {why}")
    if key != key.strip():
        raise InvalidDatabaseEntry(
            f"invalid key {key!r}: a key must not start or end with white space"
        )
    if key.startswith("#"):
        raise InvalidDatabaseEntry(
            f"invalid key {key!r}: a key must not start with '#' (it would read as a comment)"
        )


def validate_prop_name(name: str) -> None:
    """Raise InvalidDatabaseEntry unless ``name`` can be a property name."""
    _require_text(name, "property name")
    for forbidden, why in (("\n", "a newline"), ("|", "'|'")):
        if forbidden in name:
            raise InvalidDatabaseEntry(
                f"invalid property name {name!r}: a property name must not contain {why}"
            )
    validate_value(name, f"property name {name!r}")


def validate_value(value: str, what: str = "value") -> None:
    """Raise InvalidDatabaseEntry unless ``value`` reads back unchanged after a write.

    The format has no escape for a backslash, so a value ending in one would swallow
    the next separator, and the two characters backslash-n would come back as a newline.
    """
    if not isinstance(value, str):
        raise InvalidDatabaseEntry(f"invalid {what}: expected text, got {type(value).__name__}")
    _require_writable(value, what)
    if value.endswith("\\"):
        raise InvalidDatabaseEntry(f"invalid {what}: it must not end with a backslash")
    if _ESCAPED_NEWLINE in value:
        raise InvalidDatabaseEntry(
            f"invalid {what}: the characters '\\n' would read back as a newline"
        )


def validate_secret(key: str, prop: str, value: str) -> None:
    """Refuse a shared secret NethServer's tools would store differently on each host: its
    web API strips every ``|`` from a value, its ``config setprop`` cuts the record there."""
    if (key, prop) in SECRET_PROPERTIES and isinstance(value, str) and "|" in value:
        raise InvalidDatabaseEntry(
            f"the {key} {prop} must not contain '|': NethServer's tools strip it or cut the record there;"
            " choose one without '|' and set it on both hosts")


def validate_type(record_type: str) -> None:
    """Raise InvalidDatabaseEntry unless ``record_type`` can be a record type."""
    validate_value(record_type, "type")
    if "|" in record_type:
        raise InvalidDatabaseEntry(f"invalid type {record_type!r}: a type must not contain '|'")


def validate_props(props: Mapping[str, str]) -> None:
    """Validate every name and value of ``props``; ``type`` is not a property."""
    for name, value in props.items():
        validate_prop_name(name)
        if name == TYPE_PROPERTY:
            raise InvalidDatabaseEntry("'type' is the record type, not a property")
        validate_value(value, f"value of {name}")


def _require_text(text: str, what: str) -> None:
    if not isinstance(text, str) or not text:
        raise InvalidDatabaseEntry(f"invalid {what}: it must be non-empty text")


def _require_writable(text: str, what: str) -> None:
    if _UNWRITABLE.search(text):
        raise InvalidDatabaseEntry(f"invalid {what}: it holds a character that has no UTF-8 form (a lone surrogate)")


# ---------------------------------------------------------------------------
# Reading and editing files


def database_path(root: Root, name: str = DEFAULT_DATABASE) -> Path:
    """The real path of database ``name`` under ``root``."""
    _check_database_name(name)
    return root.path(f"{DATABASE_FOLDER}/{name}")


def read_database(path: Path, used: Iterable[str] = HOTSYNC_RECORDS) -> Database:
    """Read the database file at ``path``; a missing file is an empty database.

    Raises ``CorruptDatabase`` when a record named in ``used`` reads oddly (the others'
    oddities are in the result's ``warnings``), ``HotsyncError`` when the file cannot be read.
    """
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        return Database()
    except OSError as error:
        reason = error.strerror or str(error)
        raise HotsyncError(f"cannot read the {Path(path).name} database {path}: {reason}") from None
    # surrogateescape keeps bytes that are not UTF-8 intact through a rewrite.
    database = parse_database(data.decode("utf-8", "surrogateescape"), Path(path))
    database.check_records(used, Path(path))
    return database


class DatabaseSession:
    """Changes to one database inside ``edit_database``; e-smith semantics for each call.

    Every mutator validates its input first and raises ``InvalidDatabaseEntry`` before
    changing anything, and returns True when it changed the database.
    """

    def __init__(self, original: Database):
        self.original = original
        self._records: Dict[str, Record] = dict(original)
        self._copied: Dict[str, Tuple[Record, str]] = {}  # key -> (record, its text in the source)

    @property
    def database(self) -> Database:
        """The database as it is now, with this session's changes; a record this session
        did not change keeps its stored text."""
        unchanged = {key: self.original.raw_value(key) for key, record in self._records.items()
                     if self.original.get(key) == record}
        raw_values = {key: raw for key, raw in unchanged.items() if raw is not None}
        raw_values.update({key: raw for key, (record, raw) in self._copied.items() if self._records.get(key) == record})
        return Database(self._records, raw_values, self.original.warnings)

    @property
    def changed(self) -> bool:
        if dict(self._records) != dict(self.original):
            return True
        now = self.database
        return any(now.raw_value(key) != self.original.raw_value(key) for key in self._copied)

    def get(self, key: str) -> Optional[Record]:
        """The current record of ``key``, or None."""
        return self._records.get(key)

    def get_prop(self, key: str, prop: str, default: Optional[str] = None) -> Optional[str]:
        record = self._records.get(key)
        return record.get(prop, default) if record else default

    def set_prop(self, key: str, prop: str, value: str) -> bool:
        """Set one property; does nothing when ``key`` does not exist (e-smith semantics).

        ``prop`` ``type`` changes the record type.
        """
        return self.set_props(key, {prop: value})

    def set_props(self, key: str, props: Mapping[str, str]) -> bool:
        """Set several properties at once; does nothing when ``key`` does not exist."""
        validate_key(key)
        plain = _split_type(props)
        _validate_secrets(key, plain)
        record = self._records.get(key)
        if record is None:
            return False
        new_type = props.get(TYPE_PROPERTY, record.type)
        return self._store(Record(key, new_type, {**record.props, **plain}))

    def set_record(
        self, key: str, record_type: str, props: Optional[Mapping[str, str]] = None
    ) -> bool:
        """Create or replace the whole record of ``key`` (``config set``)."""
        validate_key(key)
        validate_type(record_type)
        validate_props(props or {})
        _validate_secrets(key, props or {})
        return self._store(Record(key, record_type, props or {}))

    def set_default(
        self, key: str, record_type: str, props: Optional[Mapping[str, str]] = None
    ) -> bool:
        """Create the record if missing, else add only its missing properties (``setdefault``)."""
        validate_key(key)
        validate_type(record_type)
        validate_props(props or {})
        record = self._records.get(key)
        if record is None:
            return self._store(Record(key, record_type, props or {}))
        return self._store(Record(key, record.type, {**(props or {}), **record.props}))

    def copy_record(self, key: str, source: Database) -> bool:
        """Make ``key``'s record the one of ``source`` (another file of the same format), stored
        as that file stores it: a record the Perl tools wrote oddly is copied byte for byte."""
        record, raw_value = source[key], source.raw_value(key)
        changed = self._store(record) or self.original.raw_value(key) != raw_value
        if raw_value is not None:
            self._copied[key] = (record, raw_value)
        return changed

    def delete(self, key: str) -> bool:
        """Remove the record of ``key``; does nothing when it does not exist."""
        validate_key(key)
        return self._records.pop(key, None) is not None

    def delete_prop(self, key: str, prop: str) -> bool:
        """Remove one property of ``key``; does nothing when the record or prop is missing."""
        validate_key(key)
        validate_prop_name(prop)
        if prop == TYPE_PROPERTY:
            raise InvalidDatabaseEntry("the type of a record cannot be deleted; delete the record")
        record = self._records.get(key)
        if record is None or prop not in record.props:
            return False
        remaining = {name: value for name, value in record.props.items() if name != prop}
        return self._store(Record(key, record.type, remaining))

    def _store(self, record: Record) -> bool:
        if self._records.get(record.key) == record:
            return False
        self._records[record.key] = record
        return True


def _validate_secrets(key: str, props: Mapping[str, str]) -> None:
    for prop, value in props.items():
        validate_secret(key, prop, value)


def _split_type(props: Mapping[str, str]) -> Dict[str, str]:
    """Validate ``props`` where ``type`` may appear (it sets the type); return the others."""
    plain = {name: value for name, value in props.items() if name != TYPE_PROPERTY}
    if TYPE_PROPERTY in props:
        validate_type(props[TYPE_PROPERTY])
    validate_props(plain)
    return plain


def _database_metadata(path: Path) -> Tuple[int, Optional[int], Optional[int]]:
    """Mode, owner id and group id to write ``path`` with: its own, minus any access for
    others (0600, the writer's own, for a new file)."""
    try:
        status = path.stat()
    except FileNotFoundError:
        return DATABASE_MODE, None, None
    return (status.st_mode & 0o777) & ~0o007, status.st_uid, status.st_gid


@contextmanager
def edit_database(path: Path, used: Iterable[str] = HOTSYNC_RECORDS) -> Iterator[DatabaseSession]:
    """Change the database at ``path`` under an exclusive lock; write it once at the end.

    ``used`` as for ``read_database``: an odd record among them stops the edit before it starts.

    The lock is ``flock`` on ``PATH.lock`` (created if missing), shared with the Perl
    e-smith writers. The file is read under the lock, so no concurrent update is lost.
    On normal exit the whole file is rewritten atomically only if the records changed,
    keeping the file's mode without any access for others (0600 for a new file); if the
    block raises, nothing is written. A database that is a symbolic link is written
    through: its target is replaced, in the target's folder, and the link stays. An
    existing file keeps its owner and group.
    """
    path = Path(path)
    target = Path(os.path.realpath(path))
    with _exclusive_lock(Path(f"{path}.lock")):
        session = DatabaseSession(read_database(target, used))
        yield session
        if session.changed:
            content = format_database(session.database)
            mode, user_id, group_id = _database_metadata(target)
            write_file_atomic(target, content.encode("utf-8", "surrogateescape"), mode=mode,
                              owner=user_id, group=group_id)


@contextmanager
def _exclusive_lock(lock_path: Path) -> Iterator[None]:
    """Hold ``flock(LOCK_EX)`` on ``lock_path`` for the duration of the block."""
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    while True:
        descriptor = os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o644)
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX)
        except BaseException:
            os.close(descriptor)
            raise
        # The Perl writers unlink the semaphore when they unlock; a lock held on an
        # unlinked file excludes nobody, so start over on the file that is there now.
        if _is_same_file(descriptor, lock_path):
            break
        os.close(descriptor)
    try:
        yield
    finally:
        os.close(descriptor)  # closing releases the flock


def _is_same_file(descriptor: int, path: Path) -> bool:
    try:
        on_disk = os.stat(path)
    except FileNotFoundError:
        return False
    held = os.fstat(descriptor)
    return (held.st_dev, held.st_ino) == (on_disk.st_dev, on_disk.st_ino)


# ---------------------------------------------------------------------------
# Shipped defaults (initialize-default-databases)


@frozen
class DefaultApplied:
    """One property (or a record's ``type``) set by ``apply_database_defaults``."""

    key: str
    prop: str
    value: str
    forced: bool

    def __str__(self) -> str:
        how = "forced" if self.forced else "default"
        return f"{self.key}.{self.prop} ({how})"


def apply_database_defaults(root: Root, name: str = DEFAULT_DATABASE) -> List[DefaultApplied]:
    """Apply ``/etc/e-smith/db/NAME/defaults`` then ``.../force`` to database NAME.

    ``defaults/KEY/PROP`` holds a value (its trailing newline removed) and
    ``defaults/KEY/type`` the type; they are set only where the record or property is
    missing. ``force/`` has the same layout and overwrites. A record that must be created
    needs a ``type`` file. Returns what changed, in order; writes only if something did.
    """
    _check_database_name(name)
    shipped = root.path(f"/etc/e-smith/db/{name}")
    defaults = _read_defaults_tree(shipped / "defaults")
    forced = _read_defaults_tree(shipped / "force")
    applied: List[DefaultApplied] = []
    with edit_database(database_path(root, name)) as session:
        for key, props in defaults.items():
            applied += _apply_missing(session, key, props, shipped / "defaults" / key)
        for key, props in forced.items():
            applied += _apply_forced(session, key, props, shipped / "force" / key)
    return applied


def _apply_missing(session: DatabaseSession, key: str, props: Dict[str, str], source: Path):
    record = session.get(key)
    if record is None:
        record_type = _required_type(props, source)
        plain = _without_type(props)
        session.set_record(key, record_type, plain)
        return [DefaultApplied(key, TYPE_PROPERTY, record_type, False)] + [
            DefaultApplied(key, prop, value, False) for prop, value in plain.items()
        ]
    missing = {
        prop: value for prop, value in _without_type(props).items() if prop not in record.props
    }
    session.set_props(key, missing)
    return [DefaultApplied(key, prop, value, False) for prop, value in missing.items()]


def _apply_forced(session: DatabaseSession, key: str, props: Dict[str, str], source: Path):
    record = session.get(key)
    applied = []
    if record is None:
        record = Record(key, _required_type(props, source), {})
        session.set_record(key, record.type, {})
        applied.append(DefaultApplied(key, TYPE_PROPERTY, record.type, True))
    different = {prop: value for prop, value in props.items() if record.get(prop) != value}
    session.set_props(key, different)
    return applied + [DefaultApplied(key, prop, value, True) for prop, value in different.items()]


def _required_type(props: Dict[str, str], source: Path) -> str:
    if TYPE_PROPERTY not in props:
        raise InvalidDefaults(
            f"{source}: error: record '{source.name}' does not exist yet and has no 'type' file"
        )
    return props[TYPE_PROPERTY]


def _without_type(props: Dict[str, str]) -> Dict[str, str]:
    return {prop: value for prop, value in props.items() if prop != TYPE_PROPERTY}


def _read_defaults_tree(folder: Path) -> Dict[str, Dict[str, str]]:
    """``{key: {prop: value}}`` from ``folder/KEY/PROP`` files, sorted; hidden names skipped."""
    tree: Dict[str, Dict[str, str]] = {}
    if not folder.is_dir():
        return tree
    for key_folder in sorted(folder.iterdir()):
        if key_folder.name.startswith(".") or not key_folder.is_dir():
            continue
        tree[key_folder.name] = _read_default_props(key_folder)
    return tree


def _read_default_props(key_folder: Path) -> Dict[str, str]:
    props: Dict[str, str] = {}
    try:
        validate_key(key_folder.name)
        for prop_file in sorted(key_folder.iterdir()):
            if prop_file.name.startswith(".") or not prop_file.is_file():
                continue
            value = _chomp(prop_file.read_bytes().decode("utf-8", "surrogateescape"))
            validate_prop_name(prop_file.name)
            validate_value(value, f"value of {prop_file.name}")
            props[prop_file.name] = value
    except InvalidDatabaseEntry as error:
        raise InvalidDefaults(f"{key_folder}: error: {error}") from None
    return props


def _chomp(text: str) -> str:
    """Remove one trailing newline, as Perl's chomp does."""
    return text[:-1] if text.endswith("\n") else text


def _check_database_name(name: str) -> None:
    if not name or "/" in name or name in (".", ".."):
        raise InvalidDatabaseEntry(f"invalid database name {name!r}")
