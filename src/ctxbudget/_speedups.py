"""Which implementation of the cache's hot path runs: compiled (``_core``) or pure Python (``_pycore``).

Both have the same names, behaviour and error messages. The compiled one is used when it was built, unless
``CTXBUDGET_PURE=1`` (read at import) asks for pure Python; an install without a C compiler has no ``_core``
and uses ``_pycore`` without complaint. ``COMPILED`` says which one this process got.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._util import pure_requested

if TYPE_CHECKING:  # the pure module is the reference; the compiled one's stub (_core.pyi) matches it
    from . import _pycore as core

    COMPILED: bool
else:
    if pure_requested():
        from . import _pycore as core

        COMPILED = False
    else:
        try:
            from . import _core as core

            COMPILED = True
        except ImportError:
            from . import _pycore as core

            COMPILED = False

Store = core.Store
Recorder = core.Recorder
Facade = core.Facade
count_route = core.count_route
SHORT_TEXT_CHARS: int = core.SHORT_TEXT_CHARS

__all__ = ["COMPILED", "SHORT_TEXT_CHARS", "Facade", "Recorder", "Store", "count_route", "pure_requested"]
