"""Tables per employee, department, line and client, and the by-day and hour × weekday charts."""
