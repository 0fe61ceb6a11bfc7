"""Server-rendered pages (htmx)."""

from flask import Blueprint, render_template

bp = Blueprint("web", __name__)


@bp.get("/")
def home():
    """The service's front page: what it is and where things are. Anyone can open it, so it shows nothing of any
    workspace (not even how many there are)."""
    return render_template("home.html")
