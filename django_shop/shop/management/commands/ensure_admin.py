"""`manage.py ensure_admin`: an `admin` superuser with SHOP_ADMIN_PASSWORD, once."""

from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand

from config.env import SETTINGS

USERNAME = "admin"


class Command(BaseCommand):
    help = "Create the `admin` superuser from SHOP_ADMIN_PASSWORD unless it exists."

    def handle(self, *args: Any, **options: Any) -> None:
        if SETTINGS.shop_admin_password is None:
            self.stdout.write("SHOP_ADMIN_PASSWORD is not set; no admin account created.")
            return
        users = get_user_model().objects
        if users.filter(username=USERNAME).exists():
            self.stdout.write(f"The {USERNAME!r} account exists; nothing to do.")
            return
        password = SETTINGS.shop_admin_password.get_secret_value()
        users.create_superuser(USERNAME, email="", password=password)
        self.stdout.write(self.style.SUCCESS(f"Created the {USERNAME!r} superuser."))
