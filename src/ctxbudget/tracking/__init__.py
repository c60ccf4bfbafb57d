"""Tracking what was spent: usage per session, tool and operation, and budget warnings."""
