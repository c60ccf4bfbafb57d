"""Tracking what was spent: usage per session, tool and operation, budget warnings, Claude session budgets."""
