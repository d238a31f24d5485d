"""A user's archive as a zip file, streamed to disk so memory stays flat however many posts.

Posts are read in batches of plain rows (not ORM objects, which a commit
between batches would expire); each post's Markdown file is written as it is
read, and `posts.json` is spooled to a temporary file, then copied into the zip.
"""

from __future__ import annotations

import json
import re
import shutil
import tempfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from zipfile import ZIP_DEFLATED, ZipFile

from sqlalchemy import select

from blog.extensions import db
from blog.models import Post


@dataclass(frozen=True)
class PostRecord:
    id: int
    title: str
    body: str
    created_at: datetime
    updated_at: datetime | None

    @property
    def markdown_name(self) -> str:
        slug = re.sub(r"[^a-z0-9]+", "-", self.title.lower()).strip("-")[:60] or "post"
        return f"posts/{self.id:06d}-{slug}.md"

    def markdown(self) -> str:
        return (
            f"# {self.title}\n\n_Published {self.created_at:%Y-%m-%d %H:%M} UTC_\n\n{self.body}\n"
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "title": self.title,
            "body": self.body,
            "created_at": self.created_at.isoformat(),
            "updated_at": self.updated_at.isoformat() if self.updated_at else None,
        }


def iter_posts(author_id: int, *, batch_size: int = 200) -> Iterator[PostRecord]:
    """The author's posts in id order, `batch_size` rows in memory at a time."""
    columns = (Post.id, Post.title, Post.body, Post.created_at, Post.updated_at)
    last_id = 0
    while True:
        query = select(*columns).where(Post.author_id == author_id, Post.id > last_id)
        rows = db.session.execute(query.order_by(Post.id).limit(batch_size)).all()
        if not rows:
            return
        for row in rows:
            yield PostRecord(*row)
        last_id = rows[-1].id


def write_archive(
    path: Path,
    *,
    profile: dict[str, Any],
    posts: Iterable[PostRecord],
    on_post: Callable[[int], object] = lambda _: None,
) -> int:
    """Write profile.json, posts.json and one Markdown file per post; returns the post count.

    `on_post(n)` is called after the n-th post, for progress reporting.
    """
    count = 0
    with (
        ZipFile(path, "w", compression=ZIP_DEFLATED) as archive,
        tempfile.TemporaryFile(dir=path.parent) as posts_json,
    ):
        archive.writestr("profile.json", json.dumps(profile, indent=2, ensure_ascii=False))
        posts_json.write(b"[")
        for count, post in enumerate(posts, start=1):
            separator = b"\n  " if count == 1 else b",\n  "
            posts_json.write(separator + json.dumps(post.to_json(), ensure_ascii=False).encode())
            archive.writestr(post.markdown_name, post.markdown())
            on_post(count)
        posts_json.write(b"\n]\n")
        posts_json.seek(0)
        with archive.open("posts.json", "w") as entry:
            shutil.copyfileobj(posts_json, entry)
    return count
