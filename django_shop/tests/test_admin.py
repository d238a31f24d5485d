"""The admin lists orders, periodic tasks and task results; the release step makes the admin."""

from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.test import Client
from django.urls import reverse
from django_celery_results.models import TaskResult
from pydantic import SecretStr

from config.env import SETTINGS
from shop.management.commands.seed_catalogue import PRODUCTS
from shop.models import Product
from tests.factories import OrderLineFactory

pytestmark = pytest.mark.django_db

CHANGELISTS = [
    "admin:shop_product_changelist",
    "admin:shop_order_changelist",
    "admin:shop_orderline_changelist",
    "admin:django_celery_beat_periodictask_changelist",
    "admin:django_celery_results_taskresult_changelist",
]


@pytest.mark.parametrize("name", CHANGELISTS)
def test_changelists_render(admin_client: Client, name: str) -> None:
    OrderLineFactory.create()
    TaskResult.objects.create(task_id="t-1", task_name="shop.tasks.ping", status="SUCCESS")
    assert admin_client.get(reverse(name)).status_code == 200


def test_pending_confirmations_filter(admin_client: Client) -> None:
    line = OrderLineFactory.create()
    url = reverse("admin:shop_order_changelist") + "?confirmation_sent_at__isempty=1"
    assert line.order.number in admin_client.get(url).content.decode()


def test_order_page_shows_its_lines(admin_client: Client) -> None:
    line = OrderLineFactory.create(product_name="Milk Jug")
    response = admin_client.get(reverse("admin:shop_order_change", args=[line.order.pk]))
    assert "Milk Jug" in response.content.decode()


def test_ensure_admin_creates_the_admin_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(SETTINGS, "shop_admin_password", SecretStr("correct horse"))

    call_command("ensure_admin")
    call_command("ensure_admin")

    admin = get_user_model().objects.get(username="admin")
    assert admin.is_superuser
    assert admin.check_password("correct horse")


def test_ensure_admin_without_a_password_creates_nobody(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(SETTINGS, "shop_admin_password", None)

    call_command("ensure_admin")

    assert not get_user_model().objects.exists()


def test_release_migrates_seeds_creates_the_admin_and_collects_static_files_idempotently(
    monkeypatch: pytest.MonkeyPatch, settings: Any, tmp_path: Path
) -> None:
    monkeypatch.setattr(SETTINGS, "shop_admin_password", SecretStr("correct horse"))
    settings.STATIC_ROOT = tmp_path
    # Copies only: the manifest storage's hashing and compression are collectstatic's own.
    staticfiles = {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}
    settings.STORAGES = {**settings.STORAGES, "staticfiles": staticfiles}

    call_command("release")
    call_command("release")

    assert Product.objects.count() == len(PRODUCTS)
    assert get_user_model().objects.filter(username="admin", is_superuser=True).count() == 1
    assert (tmp_path / "shop" / "shop.css").is_file()
