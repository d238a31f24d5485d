"""A private, throwaway PostgreSQL server for the benchmarks that compare databases.

    with private_postgres("reports_bench") as url:  # postgresql://postgres@127.0.0.1:PORT/reports_bench
        ...

It uses the newest server of Debian's postgresql package (/usr/lib/postgresql/N/bin,
which `make bench` installs when run as root), in a temporary directory, listening
on loopback on a free port, trusting local connections; it is stopped and removed
when the block ends. The server keeps its default settings (fsync, shared_buffers,
parallel query), as a fresh installation would. initdb refuses to run as root, so
as root the server runs as the `postgres` user the package creates.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from bench.harness import BenchError, free_port

INSTALL_HINT = "install PostgreSQL's server (`sudo apt-get install postgresql`) and try again"


def server_binaries() -> Path:
    """The folder of the newest installed PostgreSQL server's pg_ctl and initdb."""
    found = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"),
        key=lambda path: int(path.parent.parent.name) if path.parent.parent.name.isdigit() else 0,
    )
    if found:
        return found[-1].parent
    if on_path := shutil.which("pg_ctl"):
        return Path(on_path).parent
    raise BenchError(f"no PostgreSQL server here: {INSTALL_HINT}")


@contextmanager
def private_postgres(database: str) -> Iterator[str]:
    """Run a fresh PostgreSQL server with an empty `database` for the length of the block;
    yields the database's URL.
    """
    binaries = server_binaries()
    as_root = os.geteuid() == 0
    runner = ["runuser", "-u", "postgres", "--"] if as_root else []
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="bench-postgres-") as directory:
        home = Path(directory)
        if as_root:
            shutil.chown(home, "postgres")
        data, log = home / "data", home / "log"

        def run(*command: str) -> None:
            done = subprocess.run([*runner, *command], capture_output=True, text=True, check=False)
            if done.returncode != 0:
                raise BenchError(f"{Path(command[0]).name} failed:\n{done.stdout}{done.stderr}")

        run(str(binaries / "initdb"), "-D", str(data), "-U", "postgres", "-A", "trust")
        options = f"-p {port} -k {home} -c listen_addresses=127.0.0.1"
        run(str(binaries / "pg_ctl"), "-D", str(data), "-l", str(log), "-w", "-o", options, "start")
        try:
            run(
                str(binaries / "createdb"),
                "-h",
                "127.0.0.1",
                "-p",
                str(port),
                "-U",
                "postgres",
                database,
            )
            yield f"postgresql://postgres@127.0.0.1:{port}/{database}"
        finally:
            run(str(binaries / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop")
