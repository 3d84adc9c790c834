"""The chat prompt: the app's bot asks a manager for the topic of a call that ended without one."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("topic_prompts", __name__)
