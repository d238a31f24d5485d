"""Start, check and stop the whole stack: `python scripts/stack.py up|down|status|logs`.

`python scripts/stack.py with-stack CMD...` runs CMD against the native stack,
starting it first (and stopping it after) when it is not already running.

With a Docker engine that answers, the stack is `docker compose` over
compose/compose.yaml. Without one, the same services run as native processes
under honcho (the Procfile), with embedded defaults: SQLite files and a private
Redis under var/, and a mail catcher writing a Maildir.

The native stack is detached: honcho runs in its own session, its pid in
var/run/honcho.pid, every service's pid in var/run/NAME.pid and its log in
var/log/NAME.log (honcho's combined log is var/log/stack.log). Every process it
starts carries NATIVE_STACK=<var dir> in its environment, which is how `down`
finds and stops them all, even one that a crash left behind.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from base64 import b64encode
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

from celery import Celery
from dotenv import dotenv_values
from kombu.exceptions import KombuError
from redis.exceptions import RedisError

from shared.settings import SharedSettings

ROOT = Path(__file__).resolve().parents[1]
ENV_FILE = ROOT / ".env"
PROCFILE = ROOT / "Procfile"
COMPOSE_PROJECT = "celery-reference"  # the `name:` of compose/compose.yaml
COMPOSE = ["docker", "compose", "-f", str(ROOT / "compose" / "compose.yaml")]
COMPOSE += ["--env-file", str(ENV_FILE)]
MARKER = "NATIVE_STACK"
HOST = socket.gethostname()

# What `up` prints: each address people open (a SharedSettings field), and its login.
PUBLIC = [
    ("shop (Django)", "shop_url", "/admin/: admin, SHOP_ADMIN_PASSWORD"),
    ("blog (Flask)", "blog_url", "register, or demo / demo"),
    ("reports (FastAPI)", "reports_url", "register on the page"),
    ("Flower", "flower_url", "FLOWER_BASIC_AUTH"),
    ("mail catcher", "mail_url", "none"),
]


def settings() -> SharedSettings:
    """The stack's settings: the environment first, then .env."""
    return SharedSettings(_env_file=ENV_FILE)


def say(message: str) -> None:
    print(f"stack: {message}", flush=True)


# --- .env -------------------------------------------------------------------


#: The secrets `make up` generates, each a function of a random token.
SECRETS: dict[str, Callable[[], str]] = {
    "SHOP_SECRET_KEY": lambda: secrets.token_urlsafe(32),
    "BLOG_SECRET_KEY": lambda: secrets.token_urlsafe(32),
    "REPORTS_SECRET_KEY": lambda: secrets.token_urlsafe(32),
    "FLOWER_BASIC_AUTH": lambda: f"admin:{secrets.token_urlsafe(12)}",
    "SHOP_ADMIN_PASSWORD": lambda: secrets.token_urlsafe(12),
    # The compose stack's Postgres: the superuser, and one role per app.
    "POSTGRES_PASSWORD": lambda: secrets.token_urlsafe(16),
    "SHOP_DB_PASSWORD": lambda: secrets.token_urlsafe(16),
    "BLOG_DB_PASSWORD": lambda: secrets.token_urlsafe(16),
    "REPORTS_DB_PASSWORD": lambda: secrets.token_urlsafe(16),
}


def ensure_env_file() -> bool:
    """Give .env every secret of SECRETS, with a random value; return True if .env is new.

    A value already there is never changed: a secret that changed would lock
    the apps out of data made with the old one (the compose Postgres volume).
    """
    new = not ENV_FILE.exists()
    present = set(dotenv_values(ENV_FILE)) if not new else set()
    missing = [name for name in SECRETS if name not in present]
    if not missing:
        return False
    with ENV_FILE.open("a") as env:
        if new:
            env.write(
                "# Written by `make up` with random secrets. Every variable the\n"
                "# stack reads is documented in .env.example; set any of them here.\n"
            )
        env.writelines(f"{name}={SECRETS[name]()}\n" for name in missing)
    ENV_FILE.chmod(0o600)
    say(f"wrote {', '.join(missing)} to .env with new random values")
    return new


# --- probes -------------------------------------------------------------------


def http_ok(url: str, auth: tuple[str, str] | None = None) -> bool:
    request = urllib.request.Request(url)  # noqa: S310 (loopback URLs of our own services)
    if auth:
        request.add_header("Authorization", "Basic " + b64encode(":".join(auth).encode()).decode())
    try:
        with urllib.request.urlopen(request, timeout=2) as response:  # noqa: S310
            return bool(response.status == 200)
    except OSError:
        return False


def redis_answers(url: str) -> bool:
    parts = urlsplit(url)
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 6379), 1) as s:
            if parts.password:
                s.sendall(f"AUTH {parts.password}\r\n".encode())
                s.recv(64)
            s.sendall(b"PING\r\n")
            return s.recv(64).startswith(b"+PONG")
    except OSError:
        return False


def port_in_use(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def pid_alive(name: str, run_dir: Path) -> bool:
    """Is the process of var/run/NAME.pid running? A zombie (exited, not yet reaped) is not."""
    try:
        pid = int((run_dir / f"{name}.pid").read_text())
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except (OSError, ValueError, IndexError):
        return False
    return state != "Z"


def checks(config: SharedSettings, run_dir: Path) -> dict[str, Callable[[], bool]]:
    """One readiness probe per service name of the Procfile and compose file."""
    pong: dict[str, bool] = {}

    def worker(queue: str) -> Callable[[], bool]:
        def probe() -> bool:
            if not pong.get(f"{queue}@{HOST}"):
                app = Celery(broker=config.celery_broker_url)
                try:
                    replies = app.control.ping(timeout=1.0) or []
                except (OSError, KombuError, RedisError):
                    return False
                pong.update({node: True for reply in replies for node in reply})
            return pong.get(f"{queue}@{HOST}", False)

        return probe

    return {
        "redis": lambda: redis_answers(config.celery_broker_url),
        "mail": lambda: http_ok(config.mail_url + "/livez"),
        "flower": lambda: http_ok(config.flower_url + "/healthcheck"),
        "shop-web": lambda: http_ok(config.shop_url + "/health"),
        "shop-worker": worker("shop"),
        "shop-beat": lambda: pid_alive("shop-beat", run_dir),
        "blog-web": lambda: http_ok(config.blog_url + "/health"),
        "blog-worker": worker("blog"),
        "blog-beat": lambda: pid_alive("blog-beat", run_dir),
        "reports-web": lambda: http_ok(config.reports_url + "/health"),
        "reports-worker": worker("reports"),
    }


# --- the native stack ---------------------------------------------------------


def procfile_services() -> list[str]:
    lines = PROCFILE.read_text().splitlines()
    return [line.split(":", 1)[0] for line in lines if line and not line.startswith("#")]


def native_running(run_dir: Path) -> bool:
    return pid_alive("honcho", run_dir)


def first_stopped(stack_log: Path, offset: int) -> str | None:
    """The service whose exit made honcho stop the rest, from honcho's log since `offset`."""
    with stack_log.open("rb") as log:
        log.seek(offset)
        for line in log.read().decode(errors="replace").splitlines():
            if stopped := re.search(r"\| (\S+)\.\d+ stopped \(rc=", line):
                return stopped.group(1)
    return None


def wait_healthy(
    services: list[str], config: SharedSettings, var: Path, timeout: float, log_offset: int = 0
) -> bool:
    """Wait until every service answers its probe; name the ones that did not, with their logs.

    honcho stops every service when one exits, so once honcho is gone only the
    first service that stopped is to blame.
    """
    probes = checks(config, var / "run")
    pending = list(services)
    deadline = time.monotonic() + timeout
    while pending and time.monotonic() < deadline:
        if not native_running(var / "run"):
            culprit = first_stopped(var / "log" / "stack.log", log_offset)
            pending = [culprit] if culprit else pending
            break
        pending = [name for name in pending if not probes[name]()]
        if pending:
            time.sleep(1)
    for name in pending:
        log = var / "log" / f"{name}.log"
        tail = log.read_text(errors="replace").splitlines()[-25:] if log.exists() else []
        say(f"{name} is not healthy; the end of {log.relative_to(ROOT)}:")
        print("\n".join(f"    {line}" for line in tail) or "    (no output)")
    return not pending


def native_up(config: SharedSettings, var: Path) -> int:
    run_dir = var / "run"
    services = procfile_services()
    timeout = float(os.environ.get("STACK_TIMEOUT", "240"))
    if native_running(run_dir):
        say("the native stack is already running")
        return 0 if wait_healthy(services, config, var, timeout) else 1

    broker = urlsplit(config.celery_broker_url)
    if redis_answers(config.celery_broker_url):
        say(f"using the configured Redis at {broker.hostname}:{broker.port}")
        services.remove("redis")
    elif broker.hostname not in {"127.0.0.1", "localhost"}:
        say(f"the configured broker {broker.hostname}:{broker.port} does not answer")
        return 1
    ports = {"mail": [1025, 8025], "flower": [5555], "redis": [broker.port or 6379]}
    ports |= {"shop-web": [8001], "blog-web": [8002], "reports-web": [8003]}
    busy = [(name, p) for name in services for p in ports.get(name, []) if port_in_use(p)]
    if busy:
        for name, port in busy:
            say(f"port {port} (for {name}) is already in use by another program")
        return 1

    for sub in ("run", "log"):
        (var / sub).mkdir(parents=True, exist_ok=True)
    bin_dir = Path(sys.executable).parent  # celery, gunicorn, honcho: the project's environment
    env = {
        **os.environ,
        "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
        MARKER: str(var),
        "VAR_DIR": str(var),
        # One broker for every process, Flower included, whatever .env says or omits.
        "CELERY_BROKER_URL": config.celery_broker_url,
        "REDIS_PORT": str(broker.port or 6379),
        "BIND_HOST": "127.0.0.1",
        "FLOWER_ADDRESS": "127.0.0.1",
        "PYTHONUNBUFFERED": "1",
    }
    with (var / "log" / "stack.log").open("ab") as log:
        log_offset = log.tell()
        honcho = subprocess.Popen(
            [
                bin_dir / "honcho",
                "start",
                "--no-colour",
                "-f",
                str(PROCFILE),
                "-e",
                str(ENV_FILE),
                *services,
            ],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    (run_dir / "honcho.pid").write_text(str(honcho.pid))
    say(f"starting {len(services)} services natively under honcho (log: var/log/stack.log)")
    if not wait_healthy(services, config, var, timeout, log_offset):
        native_down(var)
        return 1
    return 0


def stack_processes(var: Path) -> list[int]:
    """Every live process whose environment carries this stack's marker."""
    marker = f"{MARKER}={var}".encode()
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == os.getpid():
            continue
        try:
            if marker in (proc / "environ").read_bytes().split(b"\0"):
                found.append(int(proc.name))
        except OSError:
            continue
    return found


def signal_all(pids: list[int], signum: signal.Signals) -> None:
    for pid in pids:
        try:
            os.kill(pid, signum)
        except ProcessLookupError:
            continue


def wait_gone(var: Path, seconds: float) -> list[int]:
    """Wait up to `seconds` for the stack's processes to exit; return those still alive."""
    deadline = time.monotonic() + seconds
    while (left := stack_processes(var)) and time.monotonic() < deadline:
        time.sleep(0.3)
    return left


def native_down(var: Path) -> int:
    """Stop honcho (which stops its services), then anything of the stack still alive."""
    run_dir = var / "run"
    if native_running(run_dir):
        os.kill(int((run_dir / "honcho.pid").read_text()), signal.SIGTERM)
        wait_gone(var, 15)
    if left := stack_processes(var):
        say(f"{len(left)} processes outlived honcho; stopping them")
        signal_all(left, signal.SIGTERM)
    if left := wait_gone(var, 10):
        say(f"killing {len(left)} processes that ignored SIGTERM")
        signal_all(left, signal.SIGKILL)
    for pidfile in run_dir.glob("*.pid"):
        pidfile.unlink()
    say("the native stack is stopped")
    return 0


# --- docker compose -------------------------------------------------------------


def docker_engine() -> bool:
    """Does a Docker engine answer (the `docker` client alone is not enough)?"""
    if shutil.which("docker") is None:
        return False
    try:
        probe = subprocess.run(["docker", "info"], capture_output=True, timeout=10, check=False)
    except subprocess.TimeoutExpired:
        return False
    return probe.returncode == 0


def compose(*args: str, capture: bool = False) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*COMPOSE, *args], capture_output=capture, text=True, check=False)


def compose_running() -> bool:
    """Does the compose project have any container, running or not?"""
    return docker_engine() and bool(compose("ps", "--all", "--quiet", capture=True).stdout.strip())


def database_volume_exists() -> bool:
    volume = f"{COMPOSE_PROJECT}_postgres"
    inspect = ["docker", "volume", "inspect", volume]
    return subprocess.run(inspect, capture_output=True, check=False).returncode == 0


STALE_VOLUME = """compose stack: the Postgres volume was initialised with the passwords of
another .env, so the apps cannot log in. Put that .env back, or delete the
stack's volumes (and their data) with `make clean`, then `make up` again."""


def compose_up(env_is_new: bool) -> int:
    if env_is_new and database_volume_exists():
        ENV_FILE.unlink()  # leave things as they were: the old .env may come back
        say(STALE_VOLUME)
        return 1
    say("compose stack: building the images and starting every service")
    if compose("up", "--build", "--wait", "--remove-orphans").returncode == 0:
        return 0
    migrations = compose("logs", "shop-migrate", "blog-migrate", "reports-migrate", capture=True)
    if "password authentication failed" in migrations.stdout:
        say(STALE_VOLUME)
        return 1
    say("compose stack: `up` failed (above); the state of each service, and `make logs` for more:")
    compose("ps", "--all")
    return 1


# --- commands -------------------------------------------------------------------


def print_urls(config: SharedSettings) -> None:
    width = max(len(name) for name, *_ in PUBLIC)
    for name, field, credentials in PUBLIC:
        print(f"  {name:<{width}}  {getattr(config, field):<24}  {credentials}")


def start_native() -> int:
    config = settings()
    return native_up(config, config.var_dir)


def up() -> int:
    env_is_new = ensure_env_file()
    if docker_engine():
        say("a Docker engine answers: running the compose stack")
        if compose_up(env_is_new) != 0:
            return 1
    else:
        say("no Docker engine answers: running the native stack")
        if start_native() != 0:
            return 1
    say("every service is healthy (passwords are in .env):")
    print_urls(settings())
    say("`make status` checks it, `make logs` follows the logs, `make down` stops it")
    return 0


def down() -> int:
    if compose_running():
        compose("down", "--remove-orphans")
        say("compose stack: stopped (its volumes are kept; `make clean` deletes them)")
    var = settings().var_dir
    if native_running(var / "run") or stack_processes(var):
        return native_down(var)
    return 0


def clean() -> int:
    """Stop both stacks and delete the compose volumes (databases, queues, files)."""
    if docker_engine():
        compose("down", "--volumes", "--remove-orphans")
        say("compose stack: stopped, its volumes deleted")
    return native_down(settings().var_dir)


def status() -> int:
    if compose_running():
        say("compose stack:")
        return compose("ps", "--all").returncode
    config = settings()
    run_dir = config.var_dir / "run"
    if not native_running(run_dir):
        say("no stack is running (`make up` starts one)")
        return 1
    say("native stack:")
    for name, probe in checks(config, run_dir).items():
        if name in procfile_services():
            print(f"  {name:<15} {'healthy' if probe() else 'NOT healthy'}")
    return 0


def logs() -> int:
    if compose_running():
        return compose("logs", "--follow", "--tail", "100").returncode
    log = settings().var_dir / "log" / "stack.log"
    return subprocess.run(["tail", "-n", "100", "-F", str(log)], check=False).returncode


def with_stack(command: list[str]) -> int:
    """Run `command` with the native stack up; stop the stack after if this started it."""
    ensure_env_file()
    config = settings()
    started = not native_running(config.var_dir / "run")
    if started and start_native() != 0:
        return 1
    try:
        return subprocess.run(command, cwd=ROOT, check=False).returncode
    finally:
        if started:
            native_down(config.var_dir)


def main() -> int:
    commands = {"up": up, "down": down, "clean": clean, "status": status, "logs": logs}
    if len(sys.argv) > 2 and sys.argv[1] == "with-stack":
        return with_stack(sys.argv[2:])
    if len(sys.argv) != 2 or sys.argv[1] not in commands:
        print(f"usage: {sys.argv[0]} {'|'.join(commands)} | with-stack CMD...", file=sys.stderr)
        return 2
    return commands[sys.argv[1]]()


if __name__ == "__main__":
    sys.exit(main())
