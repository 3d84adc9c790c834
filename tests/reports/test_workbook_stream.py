"""The fast row writer of the big sheets (reports/xlsx_stream.py) writes exactly the cells TableSheet.append does:
values, number formats, link formulas, typed text kept as text, empty cells for None; and memory stays flat."""

from __future__ import annotations

import io
from datetime import date, datetime, timedelta, timezone

from openpyxl import load_workbook

from b24app.reports import xlsx, xlsx_stream

TZ = timezone(timedelta(hours=3))
COLUMNS = [xlsx.Column("Начало", "datetime"), xlsx.Column("День", "date"), xlsx.Column("Сотрудник"),
           xlsx.Column("Ожидание", "float"), xlsx.Column("Разговор", "duration"), xlsx.Column("Длительность", "seconds"),
           xlsx.Column("Доля", "percent", bad_above=0.5), xlsx.Column("Звонков", "int"),
           xlsx.Column("Клиент в CRM", "link"), xlsx.Column("Карточка", "link"), xlsx.Column("Комментарий")]


def rows(n: int):
    for i in range(n):
        yield [datetime(2026, 11, 30, 9, 0, tzinfo=TZ) + timedelta(minutes=7 * i, microseconds=i),
               date(2026, 11, 30) + timedelta(days=i % 7), f"Иван <Петров> & {i}" if i % 5 else None,
               i / 3 if i % 2 else None, 45 + i, 60 + i, (i % 10) / 10, i,
               (f"Контакт #{i}", f"http://portal.example/crm/contact/details/{i}/?a=1&b=\"2\""),
               ("без ссылки", None) if i % 3 else None,
               ["=SUM(A1:A2)", " пробелы по краям ", "строка\nвторая", "x\x0by", True][i % 5]]


def _workbook(fast: bool, n: int) -> io.BytesIO:
    wb = xlsx.new_workbook()
    sheet = xlsx.TableSheet(wb, "Звонки", COLUMNS, heading="Звонки", period="Период", built="Сформирован",
                            sample=list(rows(5)))
    if fast:
        assert xlsx_stream.stream(sheet, rows(n)) == n
    else:
        for row in rows(n):
            sheet.append([v.replace("\x0b", "") if isinstance(v, str) else v for v in row])
    sheet.finish()
    out = io.BytesIO()
    wb.save(out)
    out.seek(0)
    return out


def test_fast_rows_are_the_same_cells_as_table_sheet_rows():
    slow, fast = (load_workbook(_workbook(f, 120))["Звонки"] for f in (False, True))
    assert fast.max_row == slow.max_row == 4 + 120
    assert fast.auto_filter.ref == slow.auto_filter.ref == "A4:K124"
    compared = 0
    for a_row, b_row in zip(slow.iter_rows(), fast.iter_rows(), strict=True):
        for a, b in zip(a_row, b_row, strict=True):
            assert (b.value, b.number_format, b.data_type, b.font.u, b.font.color and b.font.color.rgb) == \
                   (a.value, a.number_format, a.data_type, a.font.u, a.font.color and a.font.color.rgb), a.coordinate
            compared += a.value is not None
    assert compared > 1000
    assert fast["K5"].value == "=SUM(A1:A2)" and fast["K5"].data_type == "s"  # typed text is never a formula
    assert fast["C5"].value is None                                          # None is an empty cell
    assert fast["I5"].value.startswith('=HYPERLINK("http://portal.example/crm/contact/details/0/?a=1&b=""2"""')
    assert fast["A5"].value == datetime(2026, 11, 30, 9, 0)                  # the portal's wall clock, no zone


def test_memory_stays_flat_as_rows_stream():
    import tracemalloc

    peaks = []
    for n in (5_000, 40_000):
        wb = xlsx.new_workbook()
        sheet = xlsx.TableSheet(wb, "Звонки", COLUMNS, heading="Звонки", period="Период", built="Сформирован",
                                sample=list(rows(5)))
        tracemalloc.start()
        try:
            xlsx_stream.stream(sheet, rows(n))
            peaks.append(tracemalloc.get_traced_memory()[1])
        finally:
            tracemalloc.stop()
        sheet.finish()
        wb.save(io.BytesIO())
    # eight times the rows, the same memory: rows are written to the sheet's file as they come, never held
    assert peaks[1] < peaks[0] * 1.2 + 100_000, peaks
