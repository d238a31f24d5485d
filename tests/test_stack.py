"""The native stack manager: its .env, its probes, supervisord, and a `down` that leaves
nothing behind.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))

import stack  # noqa: E402 (the script is not a package)

from shared.testing import wait_until  # noqa: E402

# A supervisord of two programs: one that runs, one that exits as soon as it starts.
TWO_PROGRAMS = """
[supervisord]
logfile=%(ENV_VAR_DIR)s/log/supervisord.log
pidfile=%(ENV_VAR_DIR)s/run/supervisord.pid

[unix_http_server]
file=%(ENV_VAR_DIR)s/run/supervisor.sock

[supervisorctl]
serverurl=unix://%(ENV_VAR_DIR)s/run/supervisor.sock

[rpcinterface:supervisor]
supervisor.rpcinterface_factory=supervisor.rpcinterface:make_main_rpcinterface

[program:sleeper]
command=sleep 300
autorestart=true
stdout_logfile=%(ENV_VAR_DIR)s/log/%(program_name)s.log

[program:crasher]
command=sh -c "echo cannot start; exit 3"
autorestart=true
startsecs=1
startretries=60
stdout_logfile=%(ENV_VAR_DIR)s/log/%(program_name)s.log
"""


@pytest.fixture
def supervisord(monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A running supervisord of TWO_PROGRAMS; yields its var dir. A short path: a unix
    socket's path has at most 107 bytes.
    """
    var = Path(tempfile.mkdtemp(prefix="sv-"))
    for sub in ("run", "log"):
        (var / sub).mkdir()
    conf = var / "supervisord.conf"
    conf.write_text(TWO_PROGRAMS)
    monkeypatch.setattr(stack, "SUPERVISOR_CONF", conf)
    env = {**os.environ, "VAR_DIR": str(var), stack.MARKER: str(var)}
    subprocess.run([stack.BIN / "supervisord", "-c", conf], env=env, check=True, timeout=30)
    try:
        yield var
    finally:
        stack.native_down(var)
        shutil.rmtree(var)


@pytest.mark.parametrize(
    ("value", "expected"),
    [("admin:s3cret", ("admin", "s3cret")), ("ops:a:b,other:c", ("ops", "a:b"))],
)
def test_flower_credentials_take_the_first_pair(
    monkeypatch: pytest.MonkeyPatch, value: str, expected: tuple[str, str]
) -> None:
    monkeypatch.setenv("FLOWER_BASIC_AUTH", value)

    assert stack.StackSettings().flower_credentials() == expected


def test_no_flower_login_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FLOWER_BASIC_AUTH", raising=False)

    assert stack.StackSettings().flower_credentials() is None


def test_flowers_login_is_not_printed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLOWER_BASIC_AUTH", "admin:s3cret")

    assert "s3cret" not in repr(stack.StackSettings())


def test_every_native_service_has_a_readiness_probe(tmp_path: Path) -> None:
    probes = stack.checks(stack.StackSettings(), tmp_path)

    assert set(stack.native_services()) == set(probes)


def test_up_runs_the_release_step_of_every_app() -> None:
    scripts = {str(path.relative_to(ROOT)) for path in ROOT.glob("*/bin/migrate")}

    assert set(stack.MIGRATIONS.values()) == scripts
    assert len(scripts) == 3


def test_only_the_shops_processes_load_django(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # In any other app's process, Celery would see DJANGO_SETTINGS_MODULE and load
    # its Django fix-up (and Django) at every start.
    monkeypatch.delenv("DJANGO_SETTINGS_MODULE", raising=False)
    monkeypatch.setattr(stack, "ENV_FILE", tmp_path / ".env")

    assert "DJANGO_SETTINGS_MODULE" not in stack.native_env(
        stack.StackSettings(), tmp_path, run_redis=True
    )
    default = (
        'export DJANGO_SETTINGS_MODULE="${DJANGO_SETTINGS_MODULE:-config.settings.production}"'
    )
    for script in sorted((ROOT / "django_shop" / "bin").iterdir()):
        assert default in script.read_text().splitlines(), script.name


def test_env_file_gets_random_secrets_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    env_file = tmp_path / ".env"
    monkeypatch.setattr(stack, "ENV_FILE", env_file)

    assert stack.ensure_env_file() is True
    first = env_file.read_text()
    assert stack.ensure_env_file() is False

    assert env_file.read_text() == first
    values = dict(line.split("=", 1) for line in first.splitlines() if "=" in line)
    assert set(stack.SECRETS) <= set(values)
    assert values["FLOWER_BASIC_AUTH"].startswith("admin:")
    assert len(values["SHOP_SECRET_KEY"]) >= 40
    assert len(set(values.values())) == len(values)
    assert env_file.stat().st_mode & 0o077 == 0


def test_an_older_env_file_gains_the_new_secrets_and_keeps_its_own(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("POSTGRES_PASSWORD=kept\nLOG_LEVEL=DEBUG\n")
    monkeypatch.setattr(stack, "ENV_FILE", env_file)

    assert stack.ensure_env_file() is False

    lines = env_file.read_text().splitlines()
    assert lines[:2] == ["POSTGRES_PASSWORD=kept", "LOG_LEVEL=DEBUG"]
    assert {line.split("=")[0] for line in lines} == set(stack.SECRETS) | {"LOG_LEVEL"}


def test_down_stops_every_process_of_the_stack_even_an_orphan(tmp_path: Path) -> None:
    env = {**os.environ, stack.MARKER: str(tmp_path)}
    # A process in its own session, as if its parent had died: only the marker finds it.
    orphan = subprocess.Popen(["sleep", "300"], env=env, start_new_session=True)
    stranger = subprocess.Popen(["sleep", "300"])
    try:
        assert orphan.pid in stack.stack_processes(tmp_path)
        assert stranger.pid not in stack.stack_processes(tmp_path)

        stack.native_down(tmp_path)

        assert orphan.wait(timeout=30) is not None
        assert stranger.poll() is None
        assert stack.stack_processes(tmp_path) == []
    finally:
        for process in (orphan, stranger):
            process.kill()
            process.wait()


def test_redis_probe_tells_a_live_server_from_a_dead_port(redis_url: str) -> None:
    from shared.testing import free_port

    assert stack.redis_answers(redis_url)
    assert not stack.redis_answers(f"redis://127.0.0.1:{free_port()}/0")


def test_one_ping_serves_every_worker_probe_of_a_round(
    redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    pings = stack.WorkerPings(redis_url, ["shop@h", "blog@h", "reports@h"])
    asked: list[list[str]] = []

    def ping(destination: list[str], **options: object) -> list[dict[str, object]]:
        asked.append(destination)
        return [{"shop@h": {"ok": "pong"}}]

    monkeypatch.setattr(pings.app.control, "ping", ping)

    assert [pings.answers(node) for node in ("shop@h", "blog@h", "reports@h")] == [
        True,
        False,
        False,
    ]
    assert asked == [["shop@h", "blog@h", "reports@h"]]
    pings.pinged_at -= 1  # the next round, a second later: only the silent ones are asked
    assert not pings.answers("blog@h")
    assert pings.answers("shop@h")
    assert asked == [["shop@h", "blog@h", "reports@h"], ["blog@h", "reports@h"]]


def test_a_ping_no_worker_answers_gives_up_within_its_second(redis_url: str) -> None:
    pings = stack.WorkerPings(redis_url, ["nobody@h"])
    started = time.monotonic()

    assert not pings.answers("nobody@h")
    assert not pings.answers("nobody@h")
    assert time.monotonic() - started < 3


def test_supervisor_reports_each_service_and_its_pid(supervisord: Path) -> None:
    assert stack.native_running(supervisord)
    wait_until(lambda: stack.program_states(supervisord)["sleeper"][0] == "RUNNING", timeout=10)

    pid = stack.service_pid("sleeper", supervisord)
    assert pid is not None
    assert Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[:2] == [b"sleep", b"300"]
    assert stack.service_pid("crasher", supervisord) != pid


def test_a_killed_service_is_restarted_under_a_new_pid(supervisord: Path) -> None:
    pid = wait_until(lambda: stack.service_pid("sleeper", supervisord), timeout=10)

    os.kill(pid, signal.SIGKILL)

    new_pid = wait_until(lambda: stack.service_pid("sleeper", supervisord) != pid, timeout=10)
    assert new_pid


def test_a_service_that_exits_as_it_starts_fails_up_without_waiting_for_the_timeout(
    supervisord: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    probes = {"sleeper": lambda: True, "crasher": lambda: False}
    monkeypatch.setattr(stack, "checks", lambda config, var: probes)
    started = time.monotonic()

    healthy = stack.wait_healthy(["sleeper", "crasher"], stack.StackSettings(), supervisord, 120)

    assert not healthy
    assert time.monotonic() - started < 60
    out = capsys.readouterr().out
    assert "crasher is not healthy (supervisor: BACKOFF" in out
    assert "cannot start" in out
    assert "sleeper" not in out


def test_down_stops_supervisord_and_its_services(supervisord: Path) -> None:
    pid = wait_until(lambda: stack.service_pid("sleeper", supervisord), timeout=10)

    stack.native_down(supervisord)

    assert not stack.native_running(supervisord)
    assert not Path(f"/proc/{pid}").exists()
    assert stack.stack_processes(supervisord) == []


def test_down_does_not_wait_for_a_process_supervisord_lost_track_of(supervisord: Path) -> None:
    env = {**os.environ, stack.MARKER: str(supervisord)}
    # In its own session, as a pool child whose worker was killed: supervisord cannot stop it.
    lost = subprocess.Popen(["sleep", "300"], env=env, start_new_session=True)
    try:
        started = time.monotonic()
        stack.native_down(supervisord)

        assert time.monotonic() - started < 30
        assert lost.wait(timeout=5) is not None
    finally:
        lost.kill()
        lost.wait()


def test_a_zombie_is_not_alive() -> None:
    child = subprocess.Popen(["true"])
    stat = Path(f"/proc/{child.pid}/stat")
    try:
        wait_until(lambda: stat.read_text().rpartition(")")[2].split()[0] == "Z", timeout=10)

        assert not stack.alive(child.pid)
    finally:
        child.wait()
    assert not stack.alive(child.pid)
    assert stack.alive(os.getpid())


@pytest.mark.parametrize(("arguments", "runs"), [(["--own"], False), ([], True)])
def test_with_stack_own_refuses_a_stack_already_running(
    arguments: list[str], runs: bool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # `make test-faults` needs a stack started with its short time limits; one that
    # `make up` started has the usual ones. `make test`'s browser tests use either.
    marker = tmp_path / "ran"
    monkeypatch.setattr(stack, "ENV_FILE", tmp_path / ".env")
    monkeypatch.setattr(stack, "native_running", lambda var: True)
    command = [sys.executable, "-c", f"open({str(marker)!r}, 'w').close()"]
    monkeypatch.setattr(sys, "argv", ["stack.py", "with-stack", *arguments, *command])
    assert stack.main() == (0 if runs else 2)
    assert marker.exists() is runs
