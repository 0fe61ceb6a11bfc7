"""The Connect app's blueprint: descriptor, lifecycle, the Customers panel and the configure page register on it."""

from flask import Blueprint

bp = Blueprint("connect", __name__)
