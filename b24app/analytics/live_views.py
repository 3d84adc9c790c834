"""Live figures: what an open dashboard polls to learn that calls changed."""

from __future__ import annotations

from flask import g, jsonify

from ..portals.frame import frame_api
from . import recount
from .blueprint import bp


@bp.get("/b24/analytics/live")
@frame_api
def live():
    """The portal's recount counter (one primary-key read): a page that saw another number reloads its block.
    The viewer's scope does not matter here: the number says only that something was recounted."""
    resp = jsonify(version=recount.version(g.viewer.portal_id))
    resp.headers["Cache-Control"] = "no-store"
    return resp
