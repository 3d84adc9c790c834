"""The topic catalogue section of the settings page (LEFT_MENU)."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("topic_catalogue", __name__)
