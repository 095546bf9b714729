"""Cradle's profiles: snapshot generation, profile diffs, the profile loader and its CLI."""
