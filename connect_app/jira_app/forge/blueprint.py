"""The Forge remote's blueprint: lifecycle, issue events and the panel's calls register on it."""

from flask import Blueprint

bp = Blueprint("forge", __name__)
