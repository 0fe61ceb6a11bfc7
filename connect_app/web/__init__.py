"""Server-rendered pages (htmx)."""

from flask import Blueprint, current_app, render_template

from connect_app.extensions import db
from connect_app.models import Customer, JiraConnection, Organization

bp = Blueprint("web", __name__)


@bp.get("/")
def home():
    """The service's front page: what it is and where things are (counts only outside production)."""
    if current_app.config["CSCX_ENV"] == "production":
        return render_template("home.html", counts=None)
    counts = {
        "workspaces": db.session.query(Organization).count(),
        "connections": db.session.query(JiraConnection).count(),
        "customers": db.session.query(Customer).count(),
    }
    return render_template("home.html", counts=counts)
