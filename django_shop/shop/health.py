"""Readiness endpoints: /health (database and broker) and /health/worker (plus a worker)."""

from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.views.decorators.http import require_GET

from config.celery_app import app as celery_app
from shared.health import Check, check_broker, check_worker_roundtrip, report, run_check
from shop.tasks import ping


def check_database() -> Check:
    def probe() -> str:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        return connection.vendor

    return run_check("database", probe)


def _respond(*checks: Check) -> JsonResponse:
    body, status = report(*checks)
    return JsonResponse(body, status=status)


@require_GET
def health(request: HttpRequest) -> JsonResponse:
    return _respond(check_database(), check_broker(celery_app))


@require_GET
def health_worker(request: HttpRequest) -> JsonResponse:
    return _respond(check_database(), check_broker(celery_app), check_worker_roundtrip(ping))
