"""The API blueprint every route module of `connect_app.api` registers its routes on."""

from flask import Blueprint

bp = Blueprint("api", __name__, url_prefix="/api")
