"""``hotsync config VERB ...``: NethServer's ``config`` over the root's configuration database.

The verbs, their arguments, output and exit codes are those of the Perl tool
(``/sbin/e-smith/config``, that is ``db configuration``), read from its sources:

=========================================  ====================================================
``keys``                                   every key, one a line; 1 when there is none
``print [KEY]``                            ``key=`` and the stored record (``type|prop|value…``)
``show [KEY]``                             ``key=type``, then ``    prop=value`` per property, sorted
``showjson [KEY]``                         the records as indented JSON
``printjson [KEY]``, ``getjson [KEY]``     the records as JSON on one line, no newline after it
``get KEY``                                the stored record, ``type|prop|value…`` as stored
``gettype KEY``                            the type
``printtype [KEY]``                        ``key=type`` lines
``printprop KEY [PROP…]``                  ``prop=value`` lines (all sorted, or the PROPs asked)
``getprop KEY PROP``                       the value as stored; 1 and no output when absent
``setprop KEY PROP VAL [PROP VAL…]``       change properties; nothing when KEY does not exist
``set KEY TYPE [PROP VAL…]``               create or replace the whole record
``setjson JSON|-``                         create or replace the records of a JSON object or list
``setdefault KEY TYPE [PROP VAL…]``        ``set``, only when KEY does not exist
``settype KEY TYPE``                       change the type; 1 when KEY does not exist
``delete KEY``                             remove the record; 1 when KEY does not exist
``delprop KEY PROP [PROP…]``               remove properties
=========================================  ====================================================

A reading verb on a missing KEY exits 1 with no output (the Perl ``printjson`` and
``showjson`` print ``1`` there and exit 0). Values are shown as stored: an escaped ``\\|``
stays escaped, as the Perl tool shows it. An odd line in the file is read the Perl
way and reported on stderr as ``FILE:LINE: warning: …``; it never stops this command.

Wrong arguments exit 2; a value that cannot be stored exits 1. Either way the database
is not touched: arguments are checked before the lock is taken.
"""

import json
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence, Tuple

from ..errors import EXIT_FAILURE, EXIT_OK, UsageError
from ..nethserver import esmith
from ..root import Root

USAGE = """usage: hotsync config VERB [ARGS...]

Read and change the e-smith configuration database <root>/var/lib/nethserver/db/configuration,
as NethServer's 'config' does (same verbs, output and exit codes).

verbs:
  keys                                print every key
  print [KEY]                         print key=record as stored
  show [KEY]                          print key=type, then one '    prop=value' line per property
  showjson [KEY]                      print records as indented JSON
  printjson [KEY]                     print records as JSON on one line
  getjson [KEY]                       the same as printjson
  get KEY                             print the record as stored (type|prop|value...)
  gettype KEY                         print the record type
  printtype [KEY]                     print key=type
  printprop KEY [PROP...]             print prop=value lines
  getprop KEY PROP                    print a property; exit 1 if it is absent
  setprop KEY PROP VAL [PROP VAL...]  set properties (nothing happens if KEY does not exist)
  set KEY TYPE [PROP VAL...]          create or replace a whole record
  setjson JSON|-                      create or replace records given as JSON (- reads stdin)
  setdefault KEY TYPE [PROP VAL...]   create a record only if KEY does not exist
  settype KEY TYPE                    change the type of a record
  delete KEY                          remove a record
  delprop KEY PROP [PROP...]          remove properties

Exit codes: 0 success, 1 absent key/property or invalid value, 2 wrong arguments."""

PRETTY_INDENT = 3  # the Perl JSON module's pretty layout: three spaces, ' : ' between name and value


def main(root: Root, argv: Sequence[str]) -> int:
    """Run one ``config`` verb on ``root``'s configuration database; returns the exit code."""
    arguments = list(argv)
    if arguments and arguments[0] in ("-h", "--help"):
        print(USAGE)
        return EXIT_OK
    if not arguments:
        raise UsageError(f"config: a verb is needed, one of: {', '.join(VERBS)}")
    verb, rest = arguments[0], arguments[1:]
    if verb not in VERBS:
        raise UsageError(f"config: unknown verb '{verb}' (one of: {', '.join(VERBS)})")
    return VERBS[verb](esmith.database_path(root), rest)


# --- reading ---------------------------------------------------------------------


def read_leniently(path: Path) -> esmith.Database:
    """The database as the Perl tool reads it; its oddities are reported, never fatal."""
    database = esmith.read_database(path, used=())
    esmith.report_warnings(database.warnings)
    return database


@contextmanager
def edit_leniently(path: Path) -> Iterator[esmith.DatabaseSession]:
    with esmith.edit_database(path, used=()) as session:
        esmith.report_warnings(session.original.warnings)
        yield session


def _selected(database: esmith.Database, arguments: List[str], usage: str) -> Optional[List[str]]:
    """The keys a ``VERB [KEY]`` verb shows, or None when it must exit 1 (no such KEY, no key at all)."""
    if len(arguments) > 1:
        raise UsageError(f"config: usage: {usage}")
    keys = arguments if arguments else list(database)
    if not keys or any(key not in database for key in keys):
        return None
    return keys


def _stored(database: esmith.Database, key: str) -> str:
    """The record's text as stored, with the escaped newlines restored (as the Perl tool prints it)."""
    return (database.raw_value(key) or "").replace("\\n", "\n")


def list_keys(path, arguments: List[str]) -> int:
    _expect(arguments, "keys", 0)
    database = read_leniently(path)
    if not database:
        return EXIT_FAILURE
    _emit("".join(f"{key}\n" for key in database))
    return EXIT_OK


def print_records(path, arguments: List[str]) -> int:
    database = read_leniently(path)
    keys = _selected(database, arguments, "print [KEY]")
    if keys is None:
        return EXIT_FAILURE
    _emit("".join(f"{key}={_stored(database, key)}\n" for key in keys))
    return EXIT_OK


def show(path, arguments: List[str]) -> int:
    database = read_leniently(path)
    keys = _selected(database, arguments, "show [KEY]")
    if keys is None:
        return EXIT_FAILURE
    _emit("".join(format_record(key, database.raw_value(key) or "") for key in keys))
    return EXIT_OK


def format_record(key: str, raw_value: str) -> str:
    """``key=type`` then one ``    prop=value`` line per property, sorted; no blank line after."""
    record_type, props = esmith.perl_properties(raw_value)
    lines = [f"{key}={record_type}\n"]
    lines += [f"    {name}={value or ''}\n" for name, value in sorted(props.items())]
    return "".join(lines)


def get_record(path, arguments: List[str]) -> int:
    (key,) = _expect(arguments, "get KEY", 1)
    database = read_leniently(path)
    if key not in database:
        return EXIT_FAILURE
    _emit(_stored(database, key) + "\n")
    return EXIT_OK


def get_type(path, arguments: List[str]) -> int:
    (key,) = _expect(arguments, "gettype KEY", 1)
    database = read_leniently(path)
    if key not in database:
        return EXIT_FAILURE
    _emit(esmith.perl_properties(database.raw_value(key) or "")[0] + "\n")
    return EXIT_OK


def print_types(path, arguments: List[str]) -> int:
    database = read_leniently(path)
    keys = _selected(database, arguments, "printtype [KEY]")
    if keys is None:
        return EXIT_FAILURE
    _emit("".join(f"{key}={esmith.perl_properties(database.raw_value(key) or '')[0]}\n" for key in keys))
    return EXIT_OK


def print_props(path, arguments: List[str]) -> int:
    if not arguments:
        raise UsageError("config: usage: printprop KEY [PROP...]")
    key, asked = arguments[0], arguments[1:]
    database = read_leniently(path)
    props = esmith.perl_properties(database.raw_value(key) or "")[1]
    if asked:
        # in the order asked, only those with a value; the exit code says nothing, as in Perl
        _emit("".join(f"{name}={props[name]}\n" for name in asked if props.get(name) is not None))
        return EXIT_OK
    if not props:
        return EXIT_FAILURE
    _emit("".join(f"{name}={value or ''}\n" for name, value in sorted(props.items())))
    return EXIT_OK


def get_prop(path, arguments: List[str]) -> int:
    key, prop = _expect(arguments, "getprop KEY PROP", 2)
    value = esmith.perl_properties(read_leniently(path).raw_value(key) or "")[1].get(prop)
    if value is None:
        return EXIT_FAILURE
    _emit(value + "\n")
    return EXIT_OK


def print_json(path, arguments: List[str]) -> int:
    document = _json_document(read_leniently(path), arguments, "printjson [KEY]")
    if document is None:
        return EXIT_FAILURE
    _emit(json.dumps(document, ensure_ascii=False, separators=(",", ":")))
    return EXIT_OK


def show_json(path, arguments: List[str]) -> int:
    document = _json_document(read_leniently(path), arguments, "showjson [KEY]")
    if document is None:
        return EXIT_FAILURE
    _emit(json.dumps(document, ensure_ascii=False, indent=PRETTY_INDENT, separators=(",", " : ")) + "\n\n")
    return EXIT_OK


def _json_document(database: esmith.Database, arguments: List[str], usage: str) -> Any:
    """One record's object for ``[KEY]``, or the list of all; None when KEY does not exist."""
    if len(arguments) > 1:
        raise UsageError(f"config: usage: {usage}")
    if arguments:
        key = arguments[0]
        return _json_record(key, database.raw_value(key) or "") if key in database else None
    return [_json_record(key, database.raw_value(key) or "") for key in database]


def _json_record(key: str, raw_value: str) -> Dict[str, Any]:
    """``{"name", "type", "props"}``; a name left without a value is null, and a record
    without properties has no ``props``, as the Perl tool writes them."""
    record_type, props = esmith.perl_properties(raw_value)
    document: Dict[str, Any] = {"name": key, "type": record_type}
    if props:
        document["props"] = dict(sorted(props.items()))
    return document


# --- writing ---------------------------------------------------------------------


def set_props(path, arguments: List[str]) -> int:
    key, pairs = _key_and_pairs(arguments, "setprop KEY PROP VAL [PROP VAL...]", minimum_pairs=1)
    esmith.validate_key(key)
    _validate_pairs(key, pairs, type_allowed=True)
    with edit_leniently(path) as session:
        session.set_props(key, pairs)
    return EXIT_OK


def set_record(path, arguments: List[str]) -> int:
    key, record_type, pairs = _key_type_and_pairs(arguments, "set KEY TYPE [PROP VAL...]")
    with edit_leniently(path) as session:
        session.set_record(key, record_type, pairs)
    return EXIT_OK


def set_default(path, arguments: List[str]) -> int:
    key, record_type, pairs = _key_type_and_pairs(arguments, "setdefault KEY TYPE [PROP VAL...]")
    with edit_leniently(path) as session:
        if session.get(key) is None:
            session.set_record(key, record_type, pairs)
    return EXIT_OK


def set_type(path, arguments: List[str]) -> int:
    key, record_type = _expect(arguments, "settype KEY TYPE", 2)
    esmith.validate_key(key)
    esmith.validate_type(record_type)
    with edit_leniently(path) as session:
        if session.get(key) is None:
            return EXIT_FAILURE
        session.set_props(key, {esmith.TYPE_PROPERTY: record_type})
    return EXIT_OK


def set_json(path, arguments: List[str]) -> int:
    (text,) = _expect(arguments, "setjson JSON|-", 1)
    if text == "-":
        text = sys.stdin.read()
    records = [_record_from_json(item) for item in _json_list(text)]
    with edit_leniently(path) as session:
        for key, record_type, props in records:
            session.set_record(key, record_type, props)
    return EXIT_OK


def _json_list(text: str) -> List[Any]:
    try:
        document = json.loads(text)
    except ValueError as error:
        raise esmith.InvalidDatabaseEntry(f"setjson: the data is not JSON: {error}") from None
    return [document] if isinstance(document, dict) else document if isinstance(document, list) else [document]


def _record_from_json(item: Any) -> Tuple[str, str, Dict[str, str]]:
    """``(key, type, props)`` of one ``{"name", "type", "props"}`` object, checked."""
    if not isinstance(item, dict) or not isinstance(item.get("name"), str) or not isinstance(item.get("type"), str):
        raise esmith.InvalidDatabaseEntry(
            'setjson: each record must be an object with a text "name" and "type" (and an object "props")')
    props = item.get("props")
    props = {} if props is None else props
    if not isinstance(props, dict):
        raise esmith.InvalidDatabaseEntry(f"setjson: the props of '{item['name']}' must be an object")
    values = {name: _json_value(item["name"], name, value) for name, value in props.items()}
    esmith.validate_key(item["name"])
    esmith.validate_type(item["type"])
    _validate_pairs(item["name"], values, type_allowed=False)
    return item["name"], item["type"], values


def _json_value(key: str, name: str, value: Any) -> str:
    """A JSON value as the Perl tool stores it: null is empty (never the text 'null'),
    true and false are 1 and 0, a number its digits."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, (str, int, float)):
        return str(value)
    raise esmith.InvalidDatabaseEntry(f"setjson: {key}.{name} must be text, a number, true, false or null")


def delete_record(path, arguments: List[str]) -> int:
    (key,) = _expect(arguments, "delete KEY", 1)
    esmith.validate_key(key)
    with edit_leniently(path) as session:
        deleted = session.delete(key)
    return EXIT_OK if deleted else EXIT_FAILURE


def delete_props(path, arguments: List[str]) -> int:
    if len(arguments) < 2:
        raise UsageError("config: usage: delprop KEY PROP [PROP...]")
    key, props = arguments[0], arguments[1:]
    esmith.validate_key(key)
    for prop in props:
        esmith.validate_prop_name(prop)
        if prop == esmith.TYPE_PROPERTY:
            raise esmith.InvalidDatabaseEntry("the type of a record cannot be deleted")
    with edit_leniently(path) as session:
        for prop in props:
            session.delete_prop(key, prop)
    return EXIT_OK


# --- argument helpers ------------------------------------------------------------


def _expect(arguments: List[str], usage: str, count: int) -> List[str]:
    """Exactly ``count`` arguments, or a usage error showing ``usage``."""
    if len(arguments) != count:
        raise UsageError(f"config: usage: {usage}")
    return arguments


def _key_and_pairs(
    arguments: List[str], usage: str, minimum_pairs: int
) -> Tuple[str, Dict[str, str]]:
    if not arguments:
        raise UsageError(f"config: usage: {usage}")
    key, flat = arguments[0], arguments[1:]
    if len(flat) % 2:
        raise UsageError(
            "config: properties and values must come in pairs "
            f"(an odd number of words follows {key!r})"
        )
    if len(flat) < 2 * minimum_pairs:
        raise UsageError(f"config: usage: {usage}")
    # Later pairs win, as when e-smith builds its property hash.
    return key, dict(zip(flat[0::2], flat[1::2]))


def _key_type_and_pairs(arguments: List[str], usage: str) -> Tuple[str, str, Dict[str, str]]:
    if len(arguments) < 2:
        raise UsageError(f"config: usage: {usage}")
    key, pairs = _key_and_pairs([arguments[0]] + arguments[2:], usage, minimum_pairs=0)
    record_type = arguments[1]
    esmith.validate_key(key)
    esmith.validate_type(record_type)
    _validate_pairs(key, pairs, type_allowed=False)
    return key, record_type, pairs


def _validate_pairs(key: str, pairs: Dict[str, str], type_allowed: bool) -> None:
    for prop, value in pairs.items():
        esmith.validate_prop_name(prop)
        if prop == esmith.TYPE_PROPERTY and type_allowed:
            esmith.validate_type(value)
        else:
            esmith.validate_props({prop: value})
        esmith.validate_secret(key, prop, value)


def _emit(text: str) -> None:
    """Write ``text`` to stdout, keeping bytes that are not UTF-8 as they were stored."""
    stream = sys.stdout
    try:
        stream.write(text)
    except UnicodeEncodeError:
        stream.flush()
        stream.buffer.write(text.encode("utf-8", "surrogateescape"))
        stream.buffer.flush()


VERBS: Dict[str, Callable[..., int]] = {
    "keys": list_keys,
    "print": print_records,
    "printjson": print_json,
    "show": show,
    "showjson": show_json,
    "get": get_record,
    "getjson": print_json,
    "set": set_record,
    "setjson": set_json,
    "setdefault": set_default,
    "delete": delete_record,
    "printtype": print_types,
    "gettype": get_type,
    "settype": set_type,
    "printprop": print_props,
    "getprop": get_prop,
    "setprop": set_props,
    "delprop": delete_props,
}
