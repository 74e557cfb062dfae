"""Database dumps made on the master before each push.

Each dump is written by the database's own tool into a temp file beside its target and
renamed into place only when the tool succeeded, so the slave never receives a
truncated dump and a failed dump leaves the previous good one where it was.
Connection settings come from the plan (``host``, ``port``, ``socket``, ``user``,
``defaults_file``); passwords only ever travel in a defaults file, never in argv. Who runs
the client comes from the plan too: ``run_as`` names the system account (NethServer's
PostgreSQL lets its ``postgres`` role in only as the ``postgres`` account: ``ident``
authentication), ``collection`` the software collection whose client to use
(``scl enable rh-postgresql12 --``, Mattermost's PostgreSQL 12). A dump run as another
account writes to its standard output, into the temp file HotSync opened.

A dump identical to the file already in place leaves that file untouched (same bytes,
same time): rsync then sends nothing for an unchanged database. mysqldump is told
``--skip-dump-date``, as NethServer's own ``mysql-dump-tables``, so its dump of an
unchanged database is the same bytes.

Database names come from the server (``SHOW DATABASES``) and anyone who may create a
database chooses them: a name that is not safe both as a program argument and as a file
name is skipped with a warning naming it (see ``check_database_name``), names follow
``--`` on every command line, and a dump file never leaves its folder.

So a dump file cannot tell its age (an unchanged database keeps the previous file and its
time; a failed dump keeps the previous good one), the master keeps a record of its dumps
(``DUMP_RECORD_PATH``: when each last succeeded, and the last attempt's error) and pushes it
with the data: the slave's readiness judges the dumps it would load by it.
"""

import json
from pathlib import Path, PurePosixPath
from typing import Any, Dict, List, Optional, Sequence, Tuple

from ..errors import CommandError, HotsyncError
from ..files import atomic_target, write_file_atomic
from ..frozen import frozen
from ..paths import STATE_FOLDER
from ..plan import Dump
from ..programs import run_command
from ..root import Root

# A dump of a large database may take a long time; the bound only keeps a hung server
# from holding the sync lock for ever.
DUMP_TIMEOUT_SECONDS = 4 * 3600
LIST_TIMEOUT_SECONDS = 120
# Server-internal MySQL schemas: not data, and mysqldump refuses some of them.
MYSQL_SYSTEM_SCHEMAS = ("information_schema", "performance_schema", "sys")
DUMP_MODE = 0o600  # dumps hold every secret the databases hold
# Suffix of a dump still being written; the push excludes such files (left by a crash).
PARTIAL_SUFFIX = ".hotsync-partial"
# libpq reads a database name holding '=' or starting with one of these as a connection string.
POSTGRESQL_URI_PREFIXES = ("postgresql:", "postgres:")
# Absolute: cron's PATH (/usr/bin:/bin) does not hold /usr/sbin. util-linux's runuser
# switches account without a login shell or a password (root only), on EL7 as on Debian.
RUNUSER_PROGRAM = "/usr/sbin/runuser"
SCL_PROGRAM = "scl"
# The master's record of its dumps, sent with each push (the state folder itself is not).
DUMP_RECORD_PATH = f"{STATE_FOLDER}/dumps.json"
DUMP_RECORD_VERSION = 1


class UnsafeDatabaseName(HotsyncError):
    """A database name HotSync does not pass to a client nor use as a file name."""


@frozen
class DumpResult:
    """One database's dump: ``ok`` and where it went, or why it failed (the old file stays),
    or ``skipped`` (a name HotSync does not dump, see ``check_database_name``: a warning)."""

    engine: str
    database: str  # "" = every database in one file
    target: str  # host path of the dump file
    ok: bool
    error: str = ""
    skipped: bool = False

    def describe(self) -> str:
        if self.skipped:
            return self.error
        name = self.database or "all databases"
        if self.ok:
            return f"{self.engine} dump of {name} -> {self.target}"
        return f"{self.engine} dump of {name} failed, kept the previous {self.target}: {self.error}"


def make_dumps(root: Root, dumps: Sequence[Dump]) -> Tuple[DumpResult, ...]:
    """Make every dump; failures are returned as results, never raised."""
    results: List[DumpResult] = []
    for dump in dumps:
        results.extend(make_dump(root, dump))
    return tuple(results)


def make_dump(root: Root, dump: Dump) -> List[DumpResult]:
    """The dumps one ``Dump`` asks for: one file per database, or one file for all."""
    if dump.engine not in ("mysql", "postgresql"):
        return [DumpResult(dump.engine, "", dump.target, False, f"unknown database engine {dump.engine!r}")]
    try:
        jobs = plan_dump_files(root, dump)
    except HotsyncError as error:
        return [DumpResult(dump.engine, ",".join(dump.databases), dump.target, False, str(error))]
    results = []
    for database, target in jobs:
        try:
            check_dump_job(dump, database, target)
        except UnsafeDatabaseName as error:
            warning = f"skipped {error}; rename the database to have it synced"
            results.append(DumpResult(dump.engine, database, dump.target, False, warning, skipped=True))
            continue
        results.append(dump_one(root, dump, database, target))
    return results


def plan_dump_files(root: Root, dump: Dump) -> List[Tuple[str, str]]:
    """(database, host target file) pairs; database "" means every database in one file."""
    if not dump.target.endswith("/"):
        if len(dump.databases) > 1:
            raise HotsyncError(f"a dump to the single file {dump.target} can hold only one database")
        if not dump.databases and dump.engine == "postgresql":
            raise HotsyncError("a PostgreSQL dump needs a database name")
        return [(dump.databases[0] if dump.databases else "", dump.target)]
    databases = list(dump.databases)
    if not databases:
        if dump.engine != "mysql":
            raise HotsyncError("a PostgreSQL dump needs database names")
        databases = list_mysql_databases(root, dump.connection)
    suffix = ".dump" if dump.engine == "mysql" else ".sql"
    return [(name, f"{dump.target}{name}{suffix}") for name in databases]


def check_dump_job(dump: Dump, database: str, target: str) -> None:
    """Raise ``UnsafeDatabaseName`` unless ``database`` (when named) is a safe name and a
    folder dump's ``target`` is a file right inside that folder.

    The second check cannot fail for a safe name; it keeps the promise that a dump never
    leaves its folder whatever the name check becomes. The file itself is written
    through a new temp file and a rename, which replaces a link there rather than
    following it (``dump_one``).
    """
    if database:
        check_database_name(dump.engine, database)
    if dump.target.endswith("/") and PurePosixPath(target).parent != PurePosixPath(dump.target):
        raise UnsafeDatabaseName(f"the {dump.engine} database '{shown_name(database)}': "
                                 f"its dump {target} would not be inside {dump.target}")


def check_database_name(engine: str, name: str) -> str:
    """``name`` when it is safe as a client argument and as a file name, else
    ``UnsafeDatabaseName`` saying why.

    MariaDB and PostgreSQL take nearly anything in a quoted name, so the safe set is
    HotSync's choice. A name is safe when it

    * is not empty, ``.`` or ``..`` (names of folders, not files);
    * does not start with ``-`` (a program would read it as an option);
    * holds no ``/`` (its dump would leave the dump folder) and no ``\\`` (the mysql
      client's listing escapes special characters with it: the listed name is not the
      real one);
    * holds printable characters only (``str.isprintable``): no NUL, no line break or
      other control character, no invisible format character, no space other than the
      ASCII space. ASCII spaces and non-ASCII letters are safe: no shell is ever
      involved, and a UTF-8 file name holds them;
    * for PostgreSQL, holds no ``=`` and does not start with ``postgresql:`` or
      ``postgres:``: libpq would read it as a connection string (another server, user...).
    """
    reason = ""
    if name in ("", ".", ".."):
        reason = "is not a file name"
    elif name.startswith("-"):
        reason = "starts with '-' (a program would read it as an option)"
    elif "/" in name:
        reason = "holds '/' (its dump would leave the dump folder)"
    elif "\\" in name:
        reason = "holds '\\' (the server lists such names escaped, not as they are)"
    elif not name.isprintable():
        reason = "holds a control or invisible character"
    elif engine == "postgresql" and ("=" in name or name.startswith(POSTGRESQL_URI_PREFIXES)):
        reason = "would be read as a connection string by PostgreSQL's tools"
    if reason:
        raise UnsafeDatabaseName(f"the {engine} database '{shown_name(name)}': its name {reason}")
    return name


def shown_name(name: str) -> str:
    """``name`` for a message: characters that are not printable shown as escapes."""
    return "".join(char if char.isprintable() else char.encode("unicode_escape").decode("ascii") for char in name)


def list_mysql_databases(root: Root, connection: Dict[str, str]) -> List[str]:
    """The server's databases (system schemas left out), as ``mysql --batch`` lists them.

    Lines are not stripped: a name may start with a space. The listing escapes NUL, tab,
    newline and backslash with a backslash, so such names come back escaped and
    ``check_database_name`` refuses them.
    """
    argv = client_argv("mysql", connection) + mysql_connection_options(root, connection)
    argv += ["--batch", "--skip-column-names"]
    argv += ["--execute", "SHOW DATABASES"]
    try:
        finished = run_command(argv, timeout=LIST_TIMEOUT_SECONDS)
    except CommandError as error:
        raise HotsyncError(f"cannot list the MySQL databases: {error}") from None
    names = [line for line in finished.stdout.split("\n") if line]
    return [name for name in names if name not in MYSQL_SYSTEM_SCHEMAS]


def dump_command(root: Root, dump: Dump, database: str, output: Optional[Path]) -> List[str]:
    """The argv that writes ``database`` ("" = all, mysql only) to the file ``output``, or
    to its standard output when ``output`` is None.

    The name comes after ``--``: mysqldump's option parser (my_getopt, MariaDB 5.5 too)
    and pg_dump's (getopt_long) both end options there; without it mysqldump reads a
    database named ``--result-file=PATH`` as that option (it reads options anywhere in argv).
    """
    if dump.engine == "mysql":
        selection = ["--databases", "--", database] if database else ["--all-databases"]
        return [
            *client_argv("mysqldump", dump.connection),
            *mysql_connection_options(root, dump.connection),
            "--single-transaction",
            "--routines",
            "--events",
            "--triggers",
            # No date in the last line: an unchanged database gives the same file.
            "--skip-dump-date",
            *([f"--result-file={output}"] if output else []),
            *selection,
        ]
    return [*client_argv("pg_dump", dump.connection), "--no-password",
            *postgresql_connection_options(dump.connection), *([f"--file={output}"] if output else []),
            "--", database]


def client_argv(program: str, connection: Dict[str, str]) -> List[str]:
    """``program`` started as the plan says: through ``runuser`` as the ``run_as`` account,
    through ``scl enable`` of the ``collection`` (the collection's client on its PATH)."""
    argv = [program]
    if connection.get("collection"):
        argv = [SCL_PROGRAM, "enable", connection["collection"], "--"] + argv
    if connection.get("run_as"):
        argv = [RUNUSER_PROGRAM, "-u", connection["run_as"], "--"] + argv
    return argv


def mysql_connection_options(root: Root, connection: Dict[str, str]) -> List[str]:
    """Client options; ``--defaults-file`` must come first. The defaults file is a host file of the root."""
    options = []
    if connection.get("defaults_file"):
        options.append(f"--defaults-file={root.path(connection['defaults_file'])}")
    for key in ("host", "port", "socket", "user"):
        if connection.get(key):
            options.append(f"--{key}={connection[key]}")
    return options


def postgresql_connection_options(connection: Dict[str, str]) -> List[str]:
    """pg_dump options; a socket folder goes to ``--host`` as libpq expects."""
    options = []
    host = connection.get("socket") or connection.get("host")
    if host:
        options.append(f"--host={host}")
    if connection.get("port"):
        options.append(f"--port={connection['port']}")
    if connection.get("user"):
        options.append(f"--username={connection['user']}")
    return options


def dump_one(root: Root, dump: Dump, database: str, target: str) -> DumpResult:
    """Dump into a temp file beside ``target``; it replaces ``target`` only on success, and
    only when it differs (an unchanged dump leaves ``target`` as it was, time included)."""
    try:
        with atomic_target(root.path(target), DUMP_MODE, suffix=PARTIAL_SUFFIX, keep_unchanged=True) as temp:
            if dump.connection.get("run_as"):
                # The account cannot open the root-only temp file: HotSync writes what it prints.
                with open(temp, "wb") as output:
                    run_command(dump_command(root, dump, database, None), timeout=DUMP_TIMEOUT_SECONDS,
                                output_file=output)
            else:
                run_command(dump_command(root, dump, database, temp), timeout=DUMP_TIMEOUT_SECONDS)
    except CommandError as error:
        return DumpResult(dump.engine, database, target, False, str(error))
    except OSError as error:  # e.g. a folder where the dump file goes
        return DumpResult(dump.engine, database, target, False, f"cannot put the dump at {target}: {error.strerror}")
    return DumpResult(dump.engine, database, target, True)


# ----------------------------------------------------------------------------- the record of the dumps


def record_dumps(root: Root, results: Sequence[DumpResult], now: float, databases_enabled: bool) -> None:
    """Keep, for each dump target of this run, when it last succeeded and the error of its
    last attempt; targets not dumped this run keep what the record held (they only age).

    A failure before any file (the server's databases could not be listed) is kept under
    the folder target, and is the last error of every dump already recorded inside it.
    """
    dumps: Dict[str, Dict[str, Any]] = dict(read_dump_record(root).get("dumps") or {})
    for result in results:
        if result.skipped:
            continue
        previous = dumps.get(result.target) or {}
        dumps[result.target] = _entry(result, previous, now)
        if not result.ok and result.target.endswith("/"):
            for target, entry in list(dumps.items()):
                if target.startswith(result.target) and target != result.target:
                    dumps[target] = dict(entry, last_attempt_epoch=int(now), error=result.error)
    record = {"version": DUMP_RECORD_VERSION, "written_epoch": int(now), "databases_enabled": databases_enabled,
              "dumps": dumps}
    write_file_atomic(root.path(DUMP_RECORD_PATH), json.dumps(record, indent=2, sort_keys=True) + "\n",
                      mode=0o644, durable=False)


def _entry(result: DumpResult, previous: Dict[str, Any], now: float) -> Dict[str, Any]:
    last_success = int(now) if result.ok else previous.get("last_success_epoch")
    return {"engine": result.engine, "database": result.database, "last_attempt_epoch": int(now),
            "last_success_epoch": last_success if isinstance(last_success, int) else None,
            "error": "" if result.ok else result.error}


def read_dump_record(root: Root) -> Dict[str, Any]:
    """The record of the dumps (on the slave: as the last push brought it); {} when there is
    none (a master older than this record) or it cannot be read."""
    try:
        data = json.loads(root.path(DUMP_RECORD_PATH).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict) or not isinstance(data.get("dumps"), dict):
        return {}
    return data
