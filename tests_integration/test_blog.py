"""The blog on the running stack: an export built by the worker in the app context and
downloaded, and a failure seen where it should be. `make check-integration APP=blog`.
"""

from __future__ import annotations

import io
import json
import secrets
from collections.abc import Callable, Iterator
from typing import Any
from zipfile import ZipFile

import httpx2
import pytest
from clients import Blogger, export_id
from conftest import Mailbox, check_failure_propagates, wait_for

from shared.settings import SharedSettings


@pytest.fixture
def blogger(config: SharedSettings) -> Iterator[Blogger]:
    with Blogger(config.blog_url) as user:
        yield user


def test_an_export_requested_on_the_site_is_built_by_the_worker_and_downloaded(
    blogger: Blogger, mailbox: Mailbox, config: SharedSettings
) -> None:
    title = f"Integration {secrets.token_hex(4)}"
    posted = blogger.post_form("/posts/new", {"title": title, "body": "Written for the check."})
    assert posted.status_code == 302, posted.text[:500]

    export = export_id(blogger.request_export())
    status = wait_for(
        "the export is ready",
        lambda: (body := blogger.export(export))["status"] in {"ready", "failed"} and body,
    )
    assert status["status"] == "ready", status
    archive = ZipFile(io.BytesIO(blogger.client.get(status["download_url"]).content))

    # The task read the user and their posts with db.session: the app context's.
    profile = json.loads(archive.read("profile.json"))
    assert profile["username"] == blogger.username
    assert [post["title"] for post in json.loads(archive.read("posts.json"))] == [title]
    # Its email links to the export with url_for and BLOG_URL: the app context's config.
    message = mailbox.wait_for(f"{blogger.username}@example.com")
    assert message["Subject"] == "Your blog archive is ready"
    assert f"{config.blog_url}/account/exports/{export}" in message["Text"]


def test_a_failing_task_is_a_failure_in_the_blog_and_in_flower(
    diagnose: Callable[[str, str], dict[str, Any]], flower: httpx2.Client
) -> None:
    check_failure_propagates("blog", diagnose, flower)
