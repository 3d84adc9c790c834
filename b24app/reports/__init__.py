"""Reports: the Excel workbook of a period, the chat summary, their schedule and on-demand runs."""
