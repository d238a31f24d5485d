"""The account page and the user's exports: start, watch, download, retry. Owner only."""

from __future__ import annotations

from typing import Any

from flask import (
    Blueprint,
    abort,
    current_app,
    jsonify,
    redirect,
    render_template,
    send_from_directory,
    url_for,
)
from flask_login import current_user
from kombu.exceptions import OperationalError
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from werkzeug.wrappers import Response

from blog.extensions import db, login_required
from blog.models import ACTIVE, Export, ExportStatus, Post, utcnow
from blog.tasks import generate_user_archive
from blog.timeline import timeline
from shared.timeline import rows

bp = Blueprint("account", __name__, url_prefix="/account")


@bp.get("/")
@login_required
def index() -> str:
    exports = db.session.scalars(
        select(Export).where(Export.user_id == current_user.id).order_by(Export.id.desc())
    ).all()
    post_count = db.session.scalar(select(func.count()).where(Post.author_id == current_user.id))
    return render_template("account/index.html", exports=exports, post_count=post_count)


@bp.post("/exports")
@login_required
def start_export() -> Response:
    export = Export(user_id=current_user.id)
    db.session.add(export)
    return _queue(export)


@bp.post("/exports/<id:export_id>/retry")
@login_required
def retry_export(export_id: int) -> Response:
    export = _own_export(export_id)
    if export.status is not ExportStatus.FAILED:
        return redirect(url_for(".export_page", export_id=export.id))
    export.status, export.progress, export.error = ExportStatus.PENDING, 0, None
    export.created_at, export.expires_at = utcnow(), None
    # A new request: its own deliveries count from zero.
    export.started_at, export.attempts = None, 0
    return _queue(export)


@bp.get("/exports/<id:export_id>")
@login_required
def export_page(export_id: int) -> str:
    export = _own_export(export_id)
    return render_template("account/export.html", export=export, timeline=rows(export.events))


@bp.get("/exports/<id:export_id>/status")
@login_required
def export_status(export_id: int) -> Response:
    export = _own_export(export_id)
    body: dict[str, Any] = export.to_json()
    if export.status is ExportStatus.READY:
        body["download_url"] = url_for(".download_export", export_id=export.id)
    response = jsonify(body)
    response.cache_control.no_store = True
    return response


@bp.get("/exports/<id:export_id>/download")
@login_required
def download_export(export_id: int) -> Response:
    export = _own_export(export_id)
    if export.status is not ExportStatus.READY or export.file_name is None or _expired(export):
        abort(404)
    return send_from_directory(
        current_app.config["EXPORT_DIR"],
        export.file_name,
        as_attachment=True,
        download_name=f"{current_user.username}-blog-archive.zip",
    )


def _own_export(export_id: int) -> Export:
    """The current user's export `export_id`; anyone else's is a 404, as if it did not exist."""
    query = select(Export).where(Export.id == export_id, Export.user_id == current_user.id)
    export: Export = db.first_or_404(query)
    return export


def _expired(export: Export) -> bool:
    return export.expires_at is not None and export.expires_at <= utcnow()


def _queue(export: Export) -> Response:
    """Commit `export` as in progress, then hand the user's id (never the user) to the worker."""
    try:
        db.session.commit()
    except IntegrityError:
        # The unique index allows one export in progress per user: show that one instead.
        db.session.rollback()
        running = db.session.scalar(
            select(Export).where(Export.user_id == current_user.id, Export.status.in_(ACTIVE))
        )
        if running is None:
            raise
        return redirect(url_for(".export_page", export_id=running.id))
    # The export exists for every worker now: the timeline shows it before the publish.
    timeline.committed(current_user.id, detail=f"export {export.id} saved as {export.status}")
    try:
        generate_user_archive.delay(current_user.id)
    except OperationalError:
        # The broker is down: say so on the page and let the user retry, rather than a 500.
        export.status, export.error = ExportStatus.FAILED, "The export could not be queued."
        export.expires_at = utcnow() + current_app.config["EXPORT_TTL"]
        db.session.commit()
    return redirect(url_for(".export_page", export_id=export.id))
