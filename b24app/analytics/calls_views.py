"""The call list with filters and sorting, and one call opened: recording, client, QA card."""
