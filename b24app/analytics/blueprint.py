"""The analytics pages' one blueprint: every page module adds its routes to it (endpoints `analytics.*`)."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("analytics", __name__)
