"""``python -m ctxbudget``: the same CLI as the ``ctxbudget`` command."""

from .cli.main import entry

entry()
