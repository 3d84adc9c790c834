"""Incoming portal events: verified, stored once, answered at once, processed by a job."""
