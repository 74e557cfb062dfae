"""``hotsync config VERB ...``: e-smith's ``config`` over the root's configuration database.

Same verbs, arguments, output and exit codes as e-smith ``config``:

=====================================  ==================================================
``get KEY``                            the type (the value of a plain ``key=value``); 1 if no record
``getprop KEY PROP``                   the value; 1 and no output if absent
``setprop KEY PROP VAL [PROP VAL...]`` change properties; nothing if KEY does not exist
``set KEY TYPE [PROP VAL...]``         create or replace the whole record
``setdefault KEY TYPE [PROP VAL...]``  add the record or only its missing properties
``delete KEY``                         remove the record
``delprop KEY PROP [PROP...]``         remove properties
``show [KEY]``                         ``key=type`` then ``    prop=value`` lines; 1 if no such KEY
``keys``                               every key, one a line
``printjson [KEY]``                    JSON: a list of ``{"name","type","props"}``, or one object
=====================================  ==================================================

Wrong arguments exit 2; a value that cannot be stored exits 1. Either way the database
is not touched: arguments are checked before the lock is taken.
"""

import json
import sys
from typing import Callable, Dict, List, Sequence, Tuple

from ..errors import EXIT_FAILURE, EXIT_OK, UsageError
from ..nethserver import esmith
from ..root import Root

USAGE = """usage: hotsync config VERB [ARGS...]

Read and change the e-smith configuration database <root>/var/lib/nethserver/db/configuration.

verbs:
  get KEY                             print the record type (or value of key=value)
  getprop KEY PROP                    print a property; exit 1 if it is absent
  setprop KEY PROP VAL [PROP VAL...]  set properties (nothing happens if KEY does not exist)
  set KEY TYPE [PROP VAL...]          create or replace a whole record
  setdefault KEY TYPE [PROP VAL...]   add the record, or only its missing properties
  delete KEY                          remove a record
  delprop KEY PROP [PROP...]          remove properties
  show [KEY]                          print records, one property a line
  keys                                print every key
  printjson [KEY]                     print records as JSON

Exit codes: 0 success, 1 absent key/property or invalid value, 2 wrong arguments."""


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


# --- reading verbs ---------------------------------------------------------


def get_type(path, arguments: List[str]) -> int:
    (key,) = _expect(arguments, "get KEY", 1)
    record_type = esmith.read_database(path).get_type(key)
    if record_type is None:
        return EXIT_FAILURE
    _emit(record_type + "\n")
    return EXIT_OK


def get_prop(path, arguments: List[str]) -> int:
    key, prop = _expect(arguments, "getprop KEY PROP", 2)
    value = esmith.read_database(path).get_prop(key, prop)
    if value is None:
        return EXIT_FAILURE
    _emit(value + "\n")
    return EXIT_OK


def show(path, arguments: List[str]) -> int:
    database = esmith.read_database(path)
    if arguments:
        (key,) = _expect(arguments, "show [KEY]", 1)
        if key not in database:
            return EXIT_FAILURE
        _emit(format_record(database[key]))
        return EXIT_OK
    # e-smith separates the records of a full listing with an empty line.
    _emit("".join(format_record(record) + "\n" for record in database.values()))
    return EXIT_OK


def format_record(record: esmith.Record) -> str:
    """``key=type`` then one ``    prop=value`` line per property, sorted."""
    lines = [f"{record.key}={record.type}\n"]
    lines += [f"    {prop}={value}\n" for prop, value in record.props.items()]
    return "".join(lines)


def list_keys(path, arguments: List[str]) -> int:
    _expect(arguments, "keys", 0)
    _emit("".join(f"{key}\n" for key in esmith.read_database(path)))
    return EXIT_OK


def print_json(path, arguments: List[str]) -> int:
    database = esmith.read_database(path)
    document: object  # one record or all of them
    if arguments:
        (key,) = _expect(arguments, "printjson [KEY]", 1)
        if key not in database:
            return EXIT_FAILURE
        document = database[key].as_dict()
    else:
        document = [record.as_dict() for record in database.values()]
    _emit(json.dumps(document, ensure_ascii=False, separators=(",", ":")) + "\n")
    return EXIT_OK


# --- writing verbs ---------------------------------------------------------


def set_props(path, arguments: List[str]) -> int:
    key, pairs = _key_and_pairs(arguments, "setprop KEY PROP VAL [PROP VAL...]", minimum_pairs=1)
    esmith.validate_key(key)
    _validate_pairs(pairs, type_allowed=True)
    with esmith.edit_database(path) as session:
        session.set_props(key, pairs)
    return EXIT_OK


def set_record(path, arguments: List[str]) -> int:
    key, record_type, pairs = _key_type_and_pairs(arguments, "set KEY TYPE [PROP VAL...]")
    with esmith.edit_database(path) as session:
        session.set_record(key, record_type, pairs)
    return EXIT_OK


def set_default(path, arguments: List[str]) -> int:
    key, record_type, pairs = _key_type_and_pairs(arguments, "setdefault KEY TYPE [PROP VAL...]")
    with esmith.edit_database(path) as session:
        session.set_default(key, record_type, pairs)
    return EXIT_OK


def delete_record(path, arguments: List[str]) -> int:
    (key,) = _expect(arguments, "delete KEY", 1)
    esmith.validate_key(key)
    with esmith.edit_database(path) as session:
        session.delete(key)
    return EXIT_OK


def delete_props(path, arguments: List[str]) -> int:
    if len(arguments) < 2:
        raise UsageError("config: usage: delprop KEY PROP [PROP...]")
    key, props = arguments[0], arguments[1:]
    esmith.validate_key(key)
    for prop in props:
        esmith.validate_prop_name(prop)
        if prop == esmith.TYPE_PROPERTY:
            raise esmith.InvalidDatabaseEntry("the type of a record cannot be deleted")
    with esmith.edit_database(path) as session:
        for prop in props:
            session.delete_prop(key, prop)
    return EXIT_OK


# --- argument helpers ------------------------------------------------------


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
    _validate_pairs(pairs, type_allowed=False)
    return key, record_type, pairs


def _validate_pairs(pairs: Dict[str, str], type_allowed: bool) -> None:
    for prop, value in pairs.items():
        esmith.validate_prop_name(prop)
        if prop == esmith.TYPE_PROPERTY and type_allowed:
            esmith.validate_type(value)
        else:
            esmith.validate_props({prop: value})


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
    "get": get_type,
    "getprop": get_prop,
    "setprop": set_props,
    "set": set_record,
    "setdefault": set_default,
    "delete": delete_record,
    "delprop": delete_props,
    "show": show,
    "keys": list_keys,
    "printjson": print_json,
}
