"""How the blog's export scales with the posts: time linear, memory flat.

For each size, a fresh SQLite blog database in a temporary VAR_DIR is seeded with
one user and that many posts (in a process of its own, so the seeding's memory
is not counted), then another process runs the archive task's body, as the
worker does: `generate_user_archive` called as a plain function, which pushes
the app context, claims the export, streams the posts into the zip with progress
and marks it ready. The "archive ready" email is not sent (no broker here): the
call to `send_email.delay` is replaced by a no-op. That process reports its
time and its peak RSS, beside its RSS once everything is imported.

    uv run --locked python -m bench.exports [--sizes 1000,10000,100000] [--repeat 3]

Prints one JSON object: per size the median seconds of the repeats, the
per-post cost, and the memory figures in MiB.

What memory does grow with is the zip's central directory: `zipfile` keeps one
ZipInfo per entry (a Markdown file per post) until it writes the directory at
the end, about 0.45 KiB a post (measured with tracemalloc: 45 MiB at 100,000
posts). The posts themselves are streamed, 200 rows at a time.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.figures import Figure
from bench.memory import peak_rss_mib, rss_mib

ROOT = Path(__file__).resolve().parents[1]
BODY = "A paragraph of a post, long enough to be compressed. " * 20


def _environment(var_dir: Path) -> dict[str, str]:
    return {**os.environ, "VAR_DIR": str(var_dir), "BLOG_SECRET_KEY": "bench-only"}


def seed(posts: int) -> None:
    """In this process: the schema, one user, `posts` posts, and an export asked for."""
    from sqlalchemy import insert

    from blog import create_app
    from blog.extensions import db
    from blog.models import Export, Post, User

    app = create_app()
    with app.app_context():
        db.create_all()
        user = User(username="bench", email="bench@example.com")
        user.set_password("bench")
        db.session.add(user)
        db.session.commit()
        batch = 10_000
        for start in range(0, posts, batch):
            rows = [
                {"author_id": user.id, "title": f"Post {n}", "body": BODY}
                for n in range(start, min(start + batch, posts))
            ]
            db.session.execute(insert(Post), rows)
        db.session.add(Export(user_id=user.id))
        db.session.commit()


def export() -> dict[str, float]:
    """In this process: run the task body once; its seconds and memory."""
    from unittest import mock

    from blog import create_app
    from blog.extensions import db
    from blog.models import Export, ExportStatus, User
    from blog.tasks import generate_user_archive

    app = create_app()
    with app.app_context():
        user_id = db.session.query(User.id).scalar()
    imported_mib = rss_mib()
    with mock.patch("blog.tasks.send_email.delay"):
        started = time.perf_counter()
        generate_user_archive(user_id)
        seconds = time.perf_counter() - started
    with app.app_context():
        assert db.session.query(Export.status).scalar() is ExportStatus.READY
    return {"seconds": seconds, "imported_mib": imported_mib, "peak_mib": peak_rss_mib()}


def _run(step: str, var_dir: Path, *args: str) -> str:
    command = [sys.executable, "-m", "bench.exports", f"--{step}", *args]
    done = subprocess.run(
        command,
        cwd=ROOT,
        env={**_environment(var_dir), "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=1800,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"{step} failed:\n{done.stderr[-3000:]}")
    return done.stdout


def measure(posts: int, repeat: int) -> dict[str, Any]:
    """The median of `repeat` exports of `posts` posts, each from a freshly seeded database."""
    runs = []
    for _ in range(repeat):
        with tempfile.TemporaryDirectory() as var_dir:
            _run("seed", Path(var_dir), str(posts))
            runs.append(json.loads(_run("export", Path(var_dir))))
    seconds = statistics.median(run["seconds"] for run in runs)
    return {
        "posts": posts,
        "seconds": round(seconds, 3),
        "microseconds_per_post": round(seconds / posts * 1e6, 1),
        "imported_mib": round(statistics.median(run["imported_mib"] for run in runs), 1),
        "peak_mib": round(statistics.median(run["peak_mib"] for run in runs), 1),
    }


def figures() -> list[Figure]:
    """The figures `make bench` tabulates: 1k, 10k and 100k posts, their cost per post, memory."""
    small, medium, large = (measure(posts, repeat=3) for posts in (1_000, 10_000, 100_000))
    basis = "median of 3 runs of the task body, each on a freshly seeded database"
    found = [
        Figure(f"blog export: {run['posts']:,} posts", run["seconds"], "s", comparison=basis)
        for run in (small, large)
    ]
    found.insert(1, Figure("blog export: 10,000 posts", medium["seconds"], "s", 5, basis))
    found.append(
        Figure(
            "blog export: cost per post at 100,000 / at 10,000 (1 is linear)",
            large["microseconds_per_post"] / medium["microseconds_per_post"],
            "x",
            1.25,
            f"{large['microseconds_per_post']} µs against {medium['microseconds_per_post']} µs",
        )
    )
    found.append(
        Figure(
            "blog export: peak memory above the imports, at 100,000 posts",
            large["peak_mib"] - large["imported_mib"],
            "MiB",
            comparison=(
                f"{medium['peak_mib'] - medium['imported_mib']:.1f} MiB at 10,000: "
                "the zip's central directory, about 0.45 KiB a post"
            ),
        )
    )
    return found


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--sizes", default="1000,10000,100000")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seed", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--export", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.seed is not None:
        seed(args.seed)
        return
    if args.export:
        print(json.dumps(export()))
        return
    sizes = [int(size) for size in args.sizes.split(",")]
    print(json.dumps({"exports": [measure(posts, args.repeat) for posts in sizes]}, indent=2))


if __name__ == "__main__":
    main()
