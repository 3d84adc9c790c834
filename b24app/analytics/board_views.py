"""The missed-calls board: missed and lost per manager, this week against last, with the target."""
