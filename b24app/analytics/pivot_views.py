"""The pivot: rows, columns and a measure chosen from the same figures, with totals."""
