"""The native stack manager: its .env, its probes, and a `down` that leaves nothing behind."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))

import stack  # noqa: E402 (the script is not a package)

from shared.settings import SharedSettings  # noqa: E402


def test_every_procfile_service_has_a_readiness_probe(tmp_path: Path) -> None:
    probes = stack.checks(SharedSettings(), tmp_path)

    assert set(stack.procfile_services()) == set(probes)


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


def test_the_first_service_to_stop_is_the_one_to_blame(tmp_path: Path) -> None:
    log = tmp_path / "stack.log"
    earlier = "10:00:00 system           | blog-web.1 stopped (rc=1)\n"
    log.write_text(earlier)
    offset = log.stat().st_size
    with log.open("a") as out:
        out.write("10:05:00 shop-web.1       | OperationalError: connection failed\n")
        out.write("10:05:01 system           | shop-web.1 stopped (rc=1)\n")
        out.write("10:05:01 system           | sending SIGTERM to redis.1 (pid 42)\n")
        out.write("10:05:01 system           | redis.1 stopped (rc=-15)\n")

    assert stack.first_stopped(log, offset) == "shop-web"
    assert stack.first_stopped(log, 0) == "blog-web"


def test_a_zombie_is_not_alive(tmp_path: Path) -> None:
    child = subprocess.Popen(["true"])
    (tmp_path / "child.pid").write_text(str(child.pid))
    try:
        wait_for_exit = 50
        while wait_for_exit and Path(f"/proc/{child.pid}/stat").read_text().split()[2] != "Z":
            time.sleep(0.1)
            wait_for_exit -= 1

        assert not stack.pid_alive("child", tmp_path)
    finally:
        child.wait()
    assert not stack.pid_alive("child", tmp_path)
    (tmp_path / "child.pid").write_text(str(os.getpid()))
    assert stack.pid_alive("child", tmp_path)
