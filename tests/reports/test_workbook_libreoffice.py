"""The generated workbook opens in LibreOffice Calc: converted to PDF headless, every sheet prints, the pages are
not blank, the charts on «Сводка» are drawn and the figures are in the text."""

from __future__ import annotations

import shutil
import struct
import subprocess
import uuid
import zlib
from pathlib import Path

import pytest

from b24app.analytics import cube

from ..platform.helpers import portal_id
from .test_workbook import SHEETS, _build, _last_week, _score_calls

pytestmark = pytest.mark.skipif(not (shutil.which("soffice") and shutil.which("pdftoppm") and
                                     shutil.which("pdftotext")),
                                reason="LibreOffice and poppler come with scripts/setup.sh")

ACCEPTED_GREEN = (0x9D, 0xCF, 0x00)  # the stacked chart's «Принятые входящие» bars


def png_pixels(path: Path) -> tuple[int, int, list[bytes]]:
    """Width, height and the unfiltered RGB rows of an 8-bit RGB or grey PNG (what pdftoppm writes)."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, width = 8, b"", 0
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            width, height, depth, color = struct.unpack(">IIBB", body[:10])
            assert depth == 8 and color in (0, 2), (depth, color)
            bpp = 3 if color == 2 else 1
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    raw = zlib.decompress(idat)
    stride = width * bpp
    rows, prev = [], bytearray(stride)
    for y in range(height):
        f, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b, c = prev[i], prev[i - bpp] if i >= bpp else 0
            if f == 1:
                line[i] = (line[i] + a) & 255
            elif f == 2:
                line[i] = (line[i] + b) & 255
            elif f == 3:
                line[i] = (line[i] + (a + b) // 2) & 255
            elif f == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append(bytes(line) if bpp == 3 else bytes(v for v in line for _ in range(3)))
        prev = line
    return width, height, rows


def _text(pdf: Path, page: int | None = None) -> str:
    args = ["pdftotext", "-layout"] + (["-f", str(page), "-l", str(page)] if page else []) + [str(pdf), "-"]
    return subprocess.run(args, capture_output=True, text=True, timeout=60, check=True).stdout


def test_the_workbook_converts_to_pdf_in_libreoffice(installed, live_app, tmp_path):
    pid = portal_id(live_app, installed)
    first, last = _last_week(live_app, pid)
    _score_calls(live_app, pid, first, last)
    built, buf = _build(live_app, pid, first, last)
    xlsx = tmp_path / "report.xlsx"
    xlsx.write_bytes(buf.getvalue())
    profile = f"file:///tmp/lo-{uuid.uuid4().hex}"  # a private profile: parallel runs do not share one
    try:
        done = subprocess.run(["soffice", f"-env:UserInstallation={profile}", "--headless", "--convert-to", "pdf",
                               "--outdir", str(tmp_path), str(xlsx)], capture_output=True, text=True, timeout=120)
    finally:
        shutil.rmtree(profile.removeprefix("file://"), ignore_errors=True)
    pdf = tmp_path / "report.pdf"
    assert done.returncode == 0 and pdf.exists(), done.stdout + done.stderr

    subprocess.run(["pdftoppm", "-png", "-r", "40", str(pdf), str(tmp_path / "page")], check=True, timeout=120)
    pages = sorted(tmp_path.glob("page-*.png"), key=lambda p: int(p.stem.split("-")[1]))
    assert len(pages) >= len(SHEETS)  # every sheet has at least its title block and header
    texts = [_text(pdf, i + 1) for i in range(len(pages))]
    # each sheet's heading prints, in the workbook's order
    first_page = {}
    for title in built.sheets[1:]:
        first_page[title] = next(i for i, t in enumerate(texts) if f"{title}\n" in t and "Период:" in t)
    assert list(first_page.values()) == sorted(first_page.values())
    with live_app.ctx():
        f = cube.total(cube.Query(pid, first, last))
    summary = "\n".join(texts[:first_page["По дням"]])
    assert "Отчёт по звонкам" in summary and "Уровень обслуживания, %" in summary
    assert any(line.split()[:2] == ["Входящие", str(f.incoming)] for line in summary.splitlines()), summary[:2000]

    green = 0
    for n, png in enumerate(pages):
        width, height, rows = png_pixels(png)
        assert width > 100 and height > 100
        inked = sum(1 for row in rows for x in range(0, len(row), 3) if row[x:x + 3] != b"\xff\xff\xff")
        assert inked > width * height // 500, f"page {n + 1} is blank"
        if n < first_page["По дням"]:
            green += sum(1 for row in rows for x in range(0, len(row), 3)
                         if all(abs(v - w) < 40 for v, w in zip(row[x:x + 3], ACCEPTED_GREEN, strict=True)))
    assert green > 30, "the stacked chart's bars are drawn on «Сводка»"
