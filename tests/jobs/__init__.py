"""Tests of the job queue mechanisms."""
