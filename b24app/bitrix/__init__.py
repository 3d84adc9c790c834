"""Bitrix24 integration: REST client, OAuth, limits, payload parsing. Knows nothing of calls or QA."""
