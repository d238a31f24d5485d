"""Everyone's posts, paginated; writing, editing and deleting your own."""

from __future__ import annotations

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_login import current_user
from sqlalchemy import select
from werkzeug.wrappers import Response

from blog.extensions import db, login_required
from blog.forms import PostForm
from blog.models import Post
from blog.urls import MAX_OFFSET

bp = Blueprint("blog", __name__)


@bp.get("/")
def index() -> str:
    per_page = current_app.config["POSTS_PER_PAGE"]
    page = db.paginate(
        select(Post).order_by(Post.created_at.desc(), Post.id.desc()),
        page=_page_number(per_page),
        per_page=per_page,
    )
    return render_template("blog/index.html", page=page)


@bp.get("/posts/<id:post_id>")
def detail(post_id: int) -> str:
    return render_template("blog/detail.html", post=db.get_or_404(Post, post_id))


@bp.route("/posts/new", methods=["GET", "POST"])
@login_required
def create() -> str | Response:
    form = PostForm()
    if form.validate_on_submit():
        post = Post(author_id=current_user.id, title=form.title.data, body=form.body.data)
        db.session.add(post)
        db.session.commit()
        flash("Post published.")
        return redirect(url_for("blog.detail", post_id=post.id))
    return render_template("blog/edit.html", form=form, post=None)


@bp.route("/posts/<id:post_id>/edit", methods=["GET", "POST"])
@login_required
def edit(post_id: int) -> str | Response:
    post = _own_post(post_id)
    # The page shows the post; a submitted form is the body alone, so a missing
    # field is an error rather than the old value kept without a word.
    form = PostForm() if request.method == "POST" else PostForm(obj=post)
    if form.validate_on_submit():
        form.populate_obj(post)
        db.session.commit()
        flash("Post updated.")
        return redirect(url_for("blog.detail", post_id=post.id))
    return render_template("blog/edit.html", form=form, post=post)


@bp.post("/posts/<id:post_id>/delete")
@login_required
def delete(post_id: int) -> Response:
    db.session.delete(_own_post(post_id))
    db.session.commit()
    flash("Post deleted.")
    return redirect(url_for("blog.index"))


def _own_post(post_id: int) -> Post:
    """The current user's post `post_id`; anyone else's is a 404, as if it did not exist."""
    post: Post = db.first_or_404(
        select(Post).where(Post.id == post_id, Post.author_id == current_user.id)
    )
    return post


def _page_number(per_page: int) -> int:
    """?page=, 1 by default.

    Like a page past the last one (paginate's 404), a page that is not a number,
    or whose offset is past MAX_OFFSET, is a 404.
    """
    try:
        number = int(request.args.get("page", "1"))
    except ValueError:
        abort(404)
    if (number - 1) * per_page > MAX_OFFSET:
        abort(404)
    return number
