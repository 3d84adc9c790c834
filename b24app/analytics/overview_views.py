"""The overview: KPI tiles against the previous period, lost vs missed, plan vs fact, top topics, calls by day, scenarios."""
