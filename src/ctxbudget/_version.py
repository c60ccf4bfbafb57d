"""The package version (one place: the CLI's --version and ``ctxbudget.__version__`` read it)."""

__version__ = "0.1.0"
