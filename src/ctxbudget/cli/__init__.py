"""The ``ctxbudget`` command line."""
