"""The key figures' order, display and verdicts, as every summary shows them."""

from __future__ import annotations

from b24app.analytics import summary
from b24app.analytics.metrics import Figures


def test_figures_read_as_the_viewer_reads_them(live_app):
    with live_app.app.test_request_context():
        assert summary.display(12345) == "12\xa0345"
        assert summary.display(0.04, "%") == "4,0"
        assert summary.display(84.94) == "84,9"
        assert summary.display(-0.5, "%", signed=True) == "-0,5" and summary.display(3, signed=True) == "+3"
        assert summary.display(None) is None


def test_lines_say_which_way_is_better():
    now, before = Figures(incoming=10, missed=2, accepted=8), Figures(incoming=10, missed=4, accepted=6)
    by_key = {line.figure.key: line for line in summary.lines(now, before)}
    assert [k.key for k in summary.KEY_FIGURES][:3] == ["incoming", "accepted", "missed"]
    assert by_key["missed"].change == -2 and by_key["missed"].verdict == "good"
    assert by_key["accepted"].verdict == "good" and by_key["incoming"].verdict == ""
    assert by_key["missed_share"].change == -20.0 and by_key["missed_share"].verdict == "good"  # percentage points
    assert by_key["asa"].now is None and by_key["asa"].change is None and by_key["asa"].verdict == ""
