"""Database dumps made on the master before each push.

Each dump is written by the database's own tool into a temp file beside its target and
renamed into place only when the tool succeeded, so the slave never receives a
truncated dump and a failed dump leaves the previous good one where it was.
Connection settings come from the plan (``host``, ``port``, ``socket``, ``user``,
``defaults_file``); passwords only ever travel in a defaults file, never in argv.
"""

import os
import tempfile
from pathlib import Path
from typing import Dict, List, Sequence, Tuple

from ..command import run_command
from ..errors import CommandError, HotsyncError
from ..files import sync_directory
from ..frozen import frozen
from ..plan import Dump
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


@frozen
class DumpResult:
    """One database's dump: ``ok`` and where it went, or why it failed (the old file stays)."""

    engine: str
    database: str  # "" = every database in one file
    target: str  # host path of the dump file
    ok: bool
    error: str = ""

    def describe(self) -> str:
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
    return [dump_one(root, dump, database, target) for database, target in jobs]


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


def list_mysql_databases(root: Root, connection: Dict[str, str]) -> List[str]:
    """The server's user databases (system schemas left out)."""
    argv = ["mysql", *mysql_connection_options(root, connection), "--batch", "--skip-column-names"]
    argv += ["--execute", "SHOW DATABASES"]
    try:
        finished = run_command(argv, timeout=LIST_TIMEOUT_SECONDS)
    except CommandError as error:
        raise HotsyncError(f"cannot list the MySQL databases: {error}") from None
    names = [line.strip() for line in finished.stdout.splitlines() if line.strip()]
    return [name for name in names if name not in MYSQL_SYSTEM_SCHEMAS]


def dump_command(root: Root, dump: Dump, database: str, output: Path) -> List[str]:
    """The argv that writes ``database`` ("" = all, mysql only) to the file ``output``."""
    if dump.engine == "mysql":
        selection = ["--databases", database] if database else ["--all-databases"]
        return [
            "mysqldump",
            *mysql_connection_options(root, dump.connection),
            "--single-transaction",
            "--routines",
            "--events",
            "--triggers",
            f"--result-file={output}",
            *selection,
        ]
    return ["pg_dump", "--no-password", *postgresql_connection_options(dump.connection), f"--file={output}", database]


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
    """Dump into a temp file beside ``target``; rename it into place only on success."""
    final = root.path(target)
    try:
        final.parent.mkdir(parents=True, exist_ok=True)
        handle, temp_name = tempfile.mkstemp(prefix=f".{final.name}.", suffix=PARTIAL_SUFFIX, dir=final.parent)
        os.fchmod(handle, DUMP_MODE)  # the tool reopens the file and keeps this mode
        os.close(handle)
    except OSError as error:
        return DumpResult(dump.engine, database, target, False, f"cannot write beside {target}: {error.strerror}")
    try:
        run_command(dump_command(root, dump, database, Path(temp_name)), timeout=DUMP_TIMEOUT_SECONDS)
        _fsync_file(temp_name)
        os.replace(temp_name, final)
        sync_directory(final.parent)
    except CommandError as error:
        _remove_quietly(temp_name)
        return DumpResult(dump.engine, database, target, False, str(error))
    except BaseException:
        _remove_quietly(temp_name)
        raise
    return DumpResult(dump.engine, database, target, True)


def _fsync_file(name: str) -> None:
    descriptor = os.open(name, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _remove_quietly(name: str) -> None:
    try:
        os.unlink(name)
    except FileNotFoundError:
        pass
