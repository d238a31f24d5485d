"""`make doctor`: each app's checks (APP/bin/doctor) against the running stack, and a summary.

Each app's checks run in the app's own process and environment, the one its
services have: natively, stack.native_env (.env, then the environment, then the
stack's own values); in the compose stack, a one-off container of the app's web
service (`docker compose run --no-deps`), so they run on the compose network,
with the image's packages, and even when the service itself is stopped. Which
stack runs is told apart as `make status` tells it (stack.compose_running).

`python scripts/doctor.py [APP...]` checks only those apps. Exits 1 when any
check failed, naming each.
"""

from __future__ import annotations

import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import stack

#: Each app and its folder, whose bin/doctor runs its checks.
APPS = {"shop": "django_shop", "blog": "flask_blog", "reports": "fastapi_reports"}
#: Seconds one app's checks may take, a compose container's start included. Each check has
#: its own deadline (shared.doctor.CHECK_DEADLINE); this bounds a process that hangs anyway.
APP_TIMEOUT = 180


@dataclass(frozen=True)
class Outcome:
    app: str
    code: int
    output: str

    def failures(self) -> list[str]:
        """The names of the checks that failed, from the lines shared.doctor.render writes."""
        pattern = rf"^{re.escape(self.app)}: FAIL  (.+?)\s{{2,}}"
        return re.findall(pattern, self.output, re.MULTILINE)


def native_command(app: str) -> tuple[list[str], dict[str, str]]:
    """The command and environment of `app`'s checks on the native stack."""
    config = stack.settings()
    env = stack.native_env(config, config.var_dir, run_redis=False)
    del env[stack.MARKER]  # not a process of the stack: `make down` must not count it
    return [str(stack.ROOT / APPS[app] / "bin" / "doctor")], env


def compose_command(app: str) -> list[str]:
    """The command of `app`'s checks in a one-off container of its web service."""
    return [
        *stack.COMPOSE,
        "run",
        "--rm",
        "--no-deps",
        "-T",
        f"{app}-web",
        f"{APPS[app]}/bin/doctor",
    ]


def run(app: str, *, compose: bool) -> Outcome:
    command, env = (compose_command(app), None) if compose else native_command(app)
    try:
        done = subprocess.run(
            command,
            cwd=stack.ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=APP_TIMEOUT,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return Outcome(app, 124, f"{app}: FAIL  doctor  no answer within {APP_TIMEOUT} s\n")
    output = done.stdout
    if done.returncode not in (0, 1) or not output.strip():
        # Not the checks' own verdict: the process itself failed (a traceback, no container).
        output += f"{app}: FAIL  doctor  exited with {done.returncode}:\n{done.stderr[-2000:]}"
    return Outcome(app, done.returncode, output)


def summary(outcomes: list[Outcome]) -> str:
    failed = [outcome for outcome in outcomes if outcome.code != 0]
    if not failed:
        return f"doctor: every check passed ({', '.join(o.app for o in outcomes)})"
    named = "; ".join(f"{o.app}: {', '.join(o.failures()) or 'see above'}" for o in failed)
    return f"doctor: FAILED ({named})"


def main(argv: list[str]) -> int:
    apps = argv or list(APPS)
    if unknown := [app for app in apps if app not in APPS]:
        print(
            f"doctor: no app {', '.join(unknown)}; the apps are {', '.join(APPS)}", file=sys.stderr
        )
        return 2
    compose = stack.compose_running()
    if compose:
        stack.say("checking the compose stack, in a one-off container of each app", prefix="doctor")
    else:
        where = stack.shown(stack.settings().var_dir)
        stack.say(
            f"checking the native stack ({where}) from each app's environment", prefix="doctor"
        )
    # At once: each app's process spends most of its time waiting for its workers' answers.
    with ThreadPoolExecutor(max_workers=len(apps)) as pool:
        outcomes = list(pool.map(lambda app: run(app, compose=compose), apps))
    for outcome in outcomes:
        print(outcome.output, end="" if outcome.output.endswith("\n") else "\n", flush=True)
    print(summary(outcomes), flush=True)
    return 0 if all(outcome.code == 0 for outcome in outcomes) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
