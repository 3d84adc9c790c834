"""Call facts: event intake, history import, reconcile and the rules that select calls for review."""
