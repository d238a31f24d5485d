"""Start, check and stop the whole stack: `python scripts/stack.py up|down|clean|status|logs`.

`python scripts/stack.py restart|start|stop SERVICE` controls one service;
`python scripts/stack.py with-stack CMD...` runs CMD against the native stack,
starting it first (and stopping it after) when it is not already running;
`with-stack --own CMD...` refuses a stack already running, for a CMD that needs
one started with its own environment (`make test-faults`).

With a Docker engine that answers, the stack is `docker compose` over
compose/compose.yaml. Without one, the same services run as native processes
under supervisord (supervisord.conf), with embedded defaults: SQLite files and a
persistent private Redis under var/, and a mail catcher writing a Maildir.

Natively, `up` runs each app's one-shot bin/migrate, then starts supervisord,
which daemonizes itself and restarts any service that exits. This script and
`supervisorctl -c supervisord.conf` reach it through var/run/supervisor.sock;
each service logs to var/log/NAME.log. Every process of the stack carries
NATIVE_STACK=<var dir> in its environment, which is how `down` finds and stops
them all, even one that a crash left behind.
"""

from __future__ import annotations

import configparser
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import xmlrpc.client
from base64 import b64encode
from collections import Counter
from collections.abc import Callable
from http.client import HTTPException
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from celery import Celery
from dotenv import dotenv_values
from kombu.exceptions import KombuError
from pydantic import SecretStr
from redis.exceptions import RedisError
from supervisor.xmlrpc import SupervisorTransport

from shared.settings import SharedSettings

ROOT = Path(__file__).resolve().parents[1]
ENV_FILE = ROOT / ".env"
SUPERVISOR_CONF = ROOT / "supervisord.conf"
BIN = Path(sys.executable).parent  # supervisord, celery, gunicorn: the project's environment
COMPOSE_PROJECT = "celery-reference"  # the `name:` of compose/compose.yaml
COMPOSE = ["docker", "compose", "-f", str(ROOT / "compose" / "compose.yaml")]
COMPOSE += ["--env-file", str(ENV_FILE)]
MARKER = "NATIVE_STACK"
HOST = socket.gethostname()
# Each app's one-shot release step, run before supervisord starts any service.
# The log of each is var/log/NAME-migrate.log, NAME-migrate its compose service.
MIGRATIONS = {
    "shop": "django_shop/bin/migrate",
    "blog": "flask_blog/bin/migrate",
    "reports": "fastapi_reports/bin/migrate",
}
MIGRATE_TIMEOUT = 600
# The workers' stopwaitsecs in supervisord.conf (a test checks it): how long a
# stopping worker may take to finish its tasks. Stopping everything takes longer.
WORKER_STOP_SECONDS = 270
STOP_TIMEOUT = WORKER_STOP_SECONDS + 30
# The supervisor states of a service that is not running and will not be restarted,
# and of one that exits as it starts (BACKOFF: supervisord retries it; FATAL: gave up).
STOPPED_STATES = {"STOPPED", "EXITED", "FATAL"}
CRASHING = {"BACKOFF", "FATAL"}

# What `up` prints: each address people open (a StackSettings field), and its login.
PUBLIC = [
    ("shop (Django)", "shop_url", "/admin/: admin, SHOP_ADMIN_PASSWORD"),
    ("blog (Flask)", "blog_url", "register, or demo / demo"),
    ("reports (FastAPI)", "reports_url", "register on the page"),
    ("Flower", "flower_url", "FLOWER_BASIC_AUTH"),
    ("mail catcher", "mail_url", "none"),
]


class StackSettings(SharedSettings):
    """The apps' settings plus what only the stack's tooling reads (this script, the tests)."""

    # The mail catcher's web UI and API (scripts/mailcatcher.py); no app reads it.
    mail_url: str = "http://127.0.0.1:8025"
    # Flower reads FLOWER_BASIC_AUTH ("user:password") itself; it is here so that
    # the tests and tools log in with the same credentials.
    flower_basic_auth: SecretStr | None = None

    def flower_credentials(self) -> tuple[str, str] | None:
        """The (user, password) pair of FLOWER_BASIC_AUTH, or None when unset."""
        if self.flower_basic_auth is None:
            return None
        user, _, password = (
            self.flower_basic_auth.get_secret_value().partition(",")[0].partition(":")
        )
        return user, password


def settings() -> StackSettings:
    """The stack's settings: the environment first, then .env."""
    return StackSettings(_env_file=ENV_FILE)


def say(message: str, *, prefix: str = "stack") -> None:
    print(f"{prefix}: {message}", flush=True)


def say_native(message: str) -> None:
    say(message, prefix="native stack")


def shown(path: Path) -> str:
    """`path` relative to the repository when it is inside it, for shorter messages."""
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def print_tail(log: Path, lines: int = 25) -> None:
    tail = log.read_text(errors="replace").splitlines()[-lines:] if log.exists() else []
    print("\n".join(f"    {line}" for line in tail) or "    (no output)", flush=True)


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


class WorkerPings:
    """Which of the stack's workers answer Celery's ping.

    One ping goes to every worker that has not answered yet and returns as soon as
    they all have (else after 1 s); it serves every probe asked within a second of
    it, so a round of `wait_healthy` pings once however many workers it waits for.
    A worker that answered once is not asked again.
    """

    def __init__(self, broker_url: str, nodes: list[str]) -> None:
        self.app = Celery(broker=broker_url)
        self.nodes = nodes
        self.answered: set[str] = set()
        self.pinged_at = -1.0

    def answers(self, node: str) -> bool:
        if node not in self.answered and time.monotonic() - self.pinged_at >= 1:
            missing = [name for name in self.nodes if name not in self.answered]
            try:
                replies = self.app.control.ping(missing, timeout=1.0, limit=len(missing)) or []
            except (OSError, KombuError, RedisError):
                replies = []
            self.pinged_at = time.monotonic()
            self.answered.update(name for reply in replies for name in reply)
        return node in self.answered


def checks(config: StackSettings, var: Path) -> dict[str, Callable[[], bool]]:
    """One readiness probe per service: per program of supervisord.conf and compose service."""
    queues = ("shop", "blog", "reports")
    pings = WorkerPings(config.celery_broker_url, [f"{queue}@{HOST}" for queue in queues])

    def worker(queue: str) -> Callable[[], bool]:
        return lambda: pings.answers(f"{queue}@{HOST}")

    def running(name: str) -> Callable[[], bool]:
        # A beat has no port and no control channel: alive is all there is to ask.
        return lambda: program_states(var).get(name, ("", ""))[0] == "RUNNING"

    return {
        "redis": lambda: redis_answers(config.celery_broker_url),
        "mail": lambda: http_ok(config.mail_url + "/livez"),
        "flower": lambda: http_ok(config.flower_url + "/healthcheck"),
        "shop-web": lambda: http_ok(config.shop_url + "/health"),
        "shop-worker": worker("shop"),
        "shop-beat": running("shop-beat"),
        "blog-web": lambda: http_ok(config.blog_url + "/health"),
        "blog-worker": worker("blog"),
        "blog-beat": running("blog-beat"),
        "reports-web": lambda: http_ok(config.reports_url + "/health"),
        "reports-worker": worker("reports"),
    }


# --- supervisord ------------------------------------------------------------------


def native_services() -> list[str]:
    """The programs of supervisord.conf, in its order: the services of the native stack."""
    parser = configparser.ConfigParser(interpolation=None)  # supervisor expands %(...)s itself
    parser.read(SUPERVISOR_CONF)
    sections = parser.sections()
    return [name.removeprefix("program:") for name in sections if name.startswith("program:")]


def supervisorctl(var: Path, *args: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    """Run `supervisorctl ARGS` against the supervisord of the stack whose files are in `var`."""
    command = [str(BIN / "supervisorctl"), "-c", str(SUPERVISOR_CONF), *args]
    # The socket's path in supervisord.conf is %(ENV_VAR_DIR)s/run/supervisor.sock.
    env = {**os.environ, "VAR_DIR": str(var)}
    try:
        return subprocess.run(
            command, env=env, capture_output=True, text=True, timeout=timeout, check=False
        )
    except subprocess.TimeoutExpired:
        return subprocess.CompletedProcess(command, 124, "", f"no answer within {timeout} s")


#: What asking a supervisord that is not there (or not answering) raises.
SUPERVISOR_ERRORS = (OSError, HTTPException, xmlrpc.client.Error)


def ask_supervisord(var: Path, method: str, *args: str) -> Any:
    """`supervisor.METHOD(*ARGS)` of supervisord's XML-RPC interface, on the socket
    supervisorctl speaks to; raises one of SUPERVISOR_ERRORS when none answers.

    For the questions asked many times a second while the stack starts (states,
    pids): in this process, where a supervisorctl would be a Python process each.
    """
    transport = SupervisorTransport(None, None, f"unix://{var / 'run' / 'supervisor.sock'}")
    try:
        proxy = xmlrpc.client.ServerProxy("http://127.0.0.1", transport)
        return getattr(proxy.supervisor, method)(*args)
    finally:
        transport.close()


def supervisord_pid(var: Path) -> int | None:
    """The pid of the stack's supervisord, or None when none answers on its socket."""
    try:
        return int(ask_supervisord(var, "getPID"))
    except SUPERVISOR_ERRORS:
        return None


def native_running(var: Path) -> bool:
    return supervisord_pid(var) is not None


def service_pid(name: str, var: Path) -> int | None:
    """The pid supervisord started for service `name`, or None when it is not running."""
    try:
        return int(ask_supervisord(var, "getProcessInfo", name)["pid"]) or None
    except SUPERVISOR_ERRORS:
        return None


def program_states(var: Path) -> dict[str, tuple[str, str]]:
    """Each service's supervisor state (RUNNING, STARTING, BACKOFF, STOPPED, FATAL...) and
    description (its pid and uptime, or why it stopped); {} when supervisord does not answer.
    """
    try:
        infos = ask_supervisord(var, "getAllProcessInfo")
    except SUPERVISOR_ERRORS:
        return {}
    found = {info["name"]: (info["statename"], info["description"]) for info in infos}
    return {name: found[name] for name in native_services() if name in found}


def supervised(config: StackSettings, states: dict[str, tuple[str, str]]) -> list[str]:
    """The services the native stack runs: all of supervisord.conf but redis when another
    Redis (one on CELERY_BROKER_URL that answers while ours is stopped) is the broker.
    """
    services = native_services()
    if states.get("redis", ("STOPPED", ""))[0] == "STOPPED" and redis_answers(
        config.celery_broker_url
    ):
        services.remove("redis")
    return services


# --- the native stack ---------------------------------------------------------


def native_env(config: StackSettings, var: Path, *, run_redis: bool) -> dict[str, str]:
    """The environment of supervisord, and so of every service: .env, then this process's
    environment (which wins, as it does in the settings), then the stack's own values.
    """
    dotenv = {key: value for key, value in dotenv_values(ENV_FILE).items() if value is not None}
    broker = urlsplit(config.celery_broker_url)
    # No DJANGO_SETTINGS_MODULE unless .env or the caller sets one: the shop's bin
    # scripts default to config.settings.production themselves, and in any other
    # app's process Celery would see it and load its Django fix-up (and Django).
    return {
        **dotenv,
        **os.environ,
        "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        MARKER: str(var),
        "VAR_DIR": str(var),
        # One broker for every process, Flower included, whatever .env says or omits.
        "CELERY_BROKER_URL": config.celery_broker_url,
        "REDIS_PORT": str(broker.port or 6379),
        "REDIS_AUTOSTART": "true" if run_redis else "false",
        "BIND_HOST": "127.0.0.1",
        "FLOWER_ADDRESS": "127.0.0.1",
        "PYTHONUNBUFFERED": "1",
    }


def ready_to_start(config: StackSettings, services: list[str]) -> bool:
    """Is everything the services need there, and every port they listen on free?"""
    broker = urlsplit(config.celery_broker_url)
    if "redis" not in services:
        say_native(f"using the configured Redis at {broker.hostname}:{broker.port}")
    elif broker.hostname not in {"127.0.0.1", "localhost"}:
        say_native(f"the configured broker {broker.hostname}:{broker.port} does not answer")
        return False
    elif shutil.which("redis-server") is None:
        say_native(
            "redis-server is missing: `make up` installs it when run as root "
            "(apt-get install redis-server); else run `sudo apt-get install redis-server`"
        )
        return False
    ports = {"mail": [1025, 8025], "flower": [5555], "redis": [broker.port or 6379]}
    ports |= {"shop-web": [8001], "blog-web": [8002], "reports-web": [8003]}
    busy = [(name, p) for name in services for p in ports.get(name, []) if port_in_use(p)]
    for name, port in busy:
        say_native(f"port {port} (for {name}) is already in use by another program")
    return not busy


def run_migrations(env: dict[str, str], var: Path) -> bool:
    """Run every app's bin/migrate at once (each needs only its own database) and wait for
    them all; name each one that fails, with the end of its log.
    """
    running = {}
    for app, script in MIGRATIONS.items():
        log = var / "log" / f"{app}-migrate.log"
        with log.open("ab") as out:
            running[script, log] = subprocess.Popen(
                [ROOT / script], cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=out
            )
    deadline = time.monotonic() + MIGRATE_TIMEOUT
    failed = False
    for (script, log), process in running.items():
        try:
            code = process.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
            code = None
        if code != 0:
            failed = True
            why = f"took over {MIGRATE_TIMEOUT} s" if code is None else f"exited with {code}"
            say_native(f"{script} {why}; the end of {shown(log)}:")
            print_tail(log)
    return not failed


def wait_healthy(services: list[str], config: StackSettings, var: Path, timeout: float) -> bool:
    """Wait until every service answers its probe; name those that do not, with their logs.

    A service that supervisord gave up on (FATAL), or keeps restarting because it
    exits as it starts (BACKOFF), fails now rather than at the timeout.
    """
    probes = checks(config, var)
    pending = list(services)
    crashing: Counter[str] = Counter()
    deadline = time.monotonic() + timeout
    while pending and time.monotonic() < deadline:
        states = program_states(var)
        if not states:
            say_native(f"supervisord stopped; see {shown(var / 'log' / 'supervisord.log')}")
            break
        crashing.update(name for name in pending if states.get(name, ("",))[0] in CRASHING)
        if crash_looping := [name for name in pending if crashing[name] >= 5]:
            pending = crash_looping
            break
        pending = [name for name in pending if not probes[name]()]
        if pending:
            time.sleep(0.5)
    states = program_states(var)
    for name in pending:
        state = " ".join(states.get(name, ("unknown", ""))).strip()
        log = var / "log" / f"{name}.log"
        say_native(f"{name} is not healthy (supervisor: {state}); the end of {shown(log)}:")
        print_tail(log)
    return not pending


def native_up(config: StackSettings, var: Path) -> int:
    """Migrate, start supervisord and wait until every service is healthy. Run again on a
    running stack, it starts whatever service is stopped and waits for them all.
    """
    timeout = float(os.environ.get("STACK_TIMEOUT", "240"))
    started = time.monotonic()
    states = program_states(var)
    services = supervised(config, states)
    if states:
        say_native("already running (supervisord)")
        if stopped := [name for name in services if states[name][0] in STOPPED_STATES]:
            say_native(f"starting what is stopped: {', '.join(stopped)}")
            print(supervisorctl(var, "start", *stopped, timeout=STOP_TIMEOUT).stdout, end="")
        return 0 if wait_healthy(services, config, var, timeout) else 1
    if not ready_to_start(config, services):
        return 1

    for sub in ("run", "log"):
        (var / sub).mkdir(parents=True, exist_ok=True)
    env = native_env(config, var, run_redis="redis" in services)
    say_native("running each app's bin/migrate (logs: var/log/APP-migrate.log)")
    if not run_migrations(env, var):
        return 1
    command = [str(BIN / "supervisord"), "-c", str(SUPERVISOR_CONF)]
    # supervisord daemonizes itself once its socket is open: errors come before that.
    daemon = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    if daemon.returncode != 0:
        say_native(f"supervisord did not start:\n{daemon.stdout}{daemon.stderr}")
        return 1
    say_native(
        f"migrated in {time.monotonic() - started:.0f} s; supervisord starts "
        f"{len(services)} services (logs: {shown(var / 'log')}/NAME.log)"
    )
    if not wait_healthy(services, config, var, timeout):
        native_down(var)
        return 1
    say_native(f"every service answered within {time.monotonic() - started:.0f} s")
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


def alive(pid: int) -> bool:
    """Is `pid` running? One that exited but is not yet reaped (a zombie) is not."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def wait_exited(pid: int, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while alive(pid) and time.monotonic() < deadline:
        time.sleep(0.3)


def native_down(var: Path) -> int:
    """Stop supervisord, which stops every service (the workers first, Redis last), then
    anything of the stack still alive.
    """
    if daemon := supervisord_pid(var):
        say_native("stopping every service; a worker first finishes the tasks it is running")
        supervisorctl(var, "shutdown")
        # supervisord exits once its services have; a process it lost track of would not.
        wait_exited(daemon, STOP_TIMEOUT)
    if left := stack_processes(var):
        say_native(f"{len(left)} processes outlived supervisord; stopping them")
        signal_all(left, signal.SIGTERM)
    if left := wait_gone(var, 10):
        say_native(f"killing {len(left)} processes that ignored SIGTERM")
        signal_all(left, signal.SIGKILL)
    say_native("stopped")
    return 0


def native_status(config: StackSettings, var: Path) -> int:
    """Print each service's supervisor state and probe; 0 only when all are healthy."""
    states = program_states(var)
    if not states:
        say_native("not running (`make up` starts it)")
        return 1
    say_native(f"supervisord runs {len(states)} services (logs: {shown(var / 'log')}/NAME.log)")
    probes = checks(config, var)
    healthy = {name: probes[name]() for name in states}
    for name, (state, description) in states.items():
        health = "healthy" if healthy[name] else "NOT healthy"
        print(f"  {name:<15} {state:<9} {health:<12} {description}")
    return 0 if all(healthy.values()) else 1


def native_logs(var: Path) -> int:
    """Follow every service's log, and supervisord's (starts, exits, restarts)."""
    names = [*native_services(), "supervisord"]
    logs = [str(var / "log" / f"{name}.log") for name in names]
    return subprocess.run(["tail", "-n", "20", "-F", *logs], check=False).returncode


def native_restart(name: str, var: Path, action: str = "restart") -> int:
    """`supervisorctl restart NAME` (or `start`, `stop`: `action`): one service, while the
    others keep running.
    """
    if name not in native_services():
        say_native(f"no service {name!r}; the services are {', '.join(native_services())}")
        return 2
    if not native_running(var):
        say_native("not running (`make up` starts it)")
        return 1
    if action != "start" and name.endswith("-worker"):
        say_native(f"{name} first finishes its running tasks (up to {WORKER_STOP_SECONDS} s)")
    result = supervisorctl(var, action, name, timeout=STOP_TIMEOUT)
    print(result.stdout + result.stderr, end="", flush=True)
    return 0 if result.returncode == 0 else 1


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


def print_urls(config: StackSettings) -> None:
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
    if native_running(var) or stack_processes(var):
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
    return native_status(config, config.var_dir)


def logs() -> int:
    if compose_running():
        return compose("logs", "--follow", "--tail", "100").returncode
    return native_logs(settings().var_dir)


def with_stack(command: list[str], *, own: bool = False) -> int:
    """Run `command` with the native stack up; stop the stack after if this started it.

    With `own`, `command` needs a stack started with this process's environment
    (the fault suite's short time limits and grace), so it refuses one that is
    already running: that one was started with other settings.
    """
    ensure_env_file()
    config = settings()
    started = not native_running(config.var_dir)
    if own and not started:
        say(
            "a native stack is running, started with its own settings; this starts one "
            "with the settings it needs: `make down` first (var/ is kept)"
        )
        return 2
    if started and start_native() != 0:
        return 1
    try:
        return subprocess.run(command, cwd=ROOT, check=False).returncode
    finally:
        if started:
            native_down(config.var_dir)


def control(action: str, name: str) -> int:
    """restart, start or stop one service of the running stack."""
    if compose_running():
        say(f"compose stack: {action} {name}")
        return compose(action, name).returncode
    return native_restart(name, settings().var_dir, action)


def main() -> int:
    commands = {"up": up, "down": down, "clean": clean, "status": status, "logs": logs}
    controls = ("restart", "start", "stop")
    args = sys.argv[1:]
    if len(args) > 2 and args[:2] == ["with-stack", "--own"]:
        return with_stack(args[2:], own=True)
    if len(args) > 1 and args[0] == "with-stack":
        return with_stack(args[1:])
    if len(args) == 2 and args[0] in controls:
        return control(*args)
    if len(args) == 1 and args[0] in commands:
        return commands[args[0]]()
    usage = f"{'|'.join(commands)} | {'|'.join(controls)} SERVICE | with-stack [--own] CMD..."
    print(f"usage: {sys.argv[0]} {usage}", file=sys.stderr)
    print(f"services: {' '.join(native_services())}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
