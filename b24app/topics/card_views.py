"""The CALL_CARD placement: client summary and topic buttons in the call popup."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("topic_card", __name__)
