"""Call topics: the catalogue, the choice per call (CALL_CARD popup or chat), and its effects."""
