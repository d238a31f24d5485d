"""Readiness (`/health`: database and broker) and a worker round trip (`/health/worker`)."""

from __future__ import annotations

from flask import Blueprint, current_app, jsonify
from sqlalchemy import text
from werkzeug.wrappers import Response

from blog.extensions import db
from blog.tasks import ping
from shared.health import Check, check_broker, check_worker_roundtrip, report, run_check

bp = Blueprint("health", __name__, url_prefix="/health")


def _database() -> Check:
    def probe() -> str:
        db.session.execute(text("SELECT 1"))
        return db.engine.url.render_as_string(hide_password=True)

    return run_check("database", probe)


@bp.get("")
def ready() -> tuple[Response, int]:
    body, status = report(_database(), check_broker(current_app.extensions["celery"]))
    return jsonify(body), status


@bp.get("/worker")
def worker() -> tuple[Response, int]:
    checks = (_database(), check_broker(current_app.extensions["celery"]))
    body, status = report(*checks, check_worker_roundtrip(ping))
    return jsonify(body), status
