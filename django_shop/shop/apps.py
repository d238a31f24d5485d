from django.apps import AppConfig
from django.conf import settings

from shared.request_id import configure_logging


class ShopConfig(AppConfig):
    name = "shop"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # The web process, manage.py and the worker all log the same way, with
        # the request id and task id on every line.
        configure_logging(settings.LOG_LEVEL)
        # Every process that publishes or runs the confirmation task loads the
        # apps, so each one follows it onto the orders' timelines.
        from shop.timeline import TIMELINE

        TIMELINE.connect()
