"""The «Аналитика» settings section: thresholds, the working schedule, holidays, the plan, the missed target."""
