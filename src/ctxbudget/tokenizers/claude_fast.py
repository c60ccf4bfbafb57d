"""ctok's Claude count through the compiled ``_claude_core``: the same number, many times faster.

The division of labour keeps ctok the authority on everything it knows:

* ``nfc`` below is ctok's ``normalize.nfc`` step for step with ctok's own patterns, except that the curly-quote
  fold is four ``str.replace`` calls instead of one ``str.translate`` (the same map: each quote becomes an
  ASCII quote, which no other step touches; ``translate`` with a dict costs ~0.4 s per MiB of non-ASCII text);
* ctok's own loader reads the shipped vocabulary files (``ctok.main._model``), whose pieces become the C trie;
* ctok's own per-character functions (``classify``, ``_stray_mark``, ``_marks_like_punct``, the case tests,
  ``engine.char_cost``) give the facts of each code point the first time a text holds it;
* the C part runs ``stream_norm``'s run and marker logic and the min-cost tiling over those facts, without
  the GIL.

It is used only on the ctok release and data files the parity sweep ran on (``claude_verified``), when the
extension was built, and unless ``CTXBUDGET_PURE=1``; otherwise ``load`` returns None and ctok counts.
"""

from __future__ import annotations

import logging
import threading
import unicodedata
from collections.abc import Callable
from types import ModuleType
from typing import Any

from .._util import pure_requested
from .claude_verified import ctok_is_verified

logger = logging.getLogger("ctxbudget.tokenizers")

#: A count of one text (``FastClaude.framed_count``).
Count = Callable[[str], int]

# The fact bits of _claude_core.c (P_*).
_CLASSES = {"wordy": 0, "hard": 1, "digit": 2, "punct": 3, "space": 4}
_KINDS = {"letter": 0, "number": 1, "punct": 2}
_CATEGORIES = {"Nd": 1, "No": 2}
_STRAY, _MLP, _KIND_SHIFT, _DIGIT_BORDER, _CAT_SHIFT = 1 << 3, 1 << 4, 5, 1 << 7, 8
_UPPER, _LOWER, _UNLOWERABLE = 1 << 10, 1 << 11, 1 << 12

# ctok's family keys (ctok.main.FAMILIES) by ctxbudget family
FAMILY_KEYS = {"3": "v3", "4.7": "v4.7", "4.8": "v4.8"}

_lock = threading.Lock()
_lowers: dict[str, str] = {}  # code point -> its lowercase, for those whose facts _claude_core holds


def _facts(ch: str) -> tuple[int, int]:
    """The facts of one code point of the escaped text, and its lowercase, from ctok's own functions."""
    # not `from ctok import normalize`: the package exports a function of that name
    from ctok.normalize import (
        _NEW_CASED,
        _digit_border,
        _hard_kind,
        _is_lower,
        _is_upper,
        _lower,
        _marks_like_punct,
        _stray_mark,
        classify,
    )

    category = unicodedata.category(ch)
    lower = _lower(ch)
    facts = (
        _CLASSES[classify(ch)]
        | (_STRAY if _stray_mark(ch) else 0)
        | (_MLP if _marks_like_punct(ch) else 0)
        | (_KINDS[_hard_kind(ch)] << _KIND_SHIFT)
        | (_DIGIT_BORDER if _digit_border(ch) else 0)
        | (_CATEGORIES.get(category, 0) << _CAT_SHIFT)
        | (_UPPER if _is_upper(ch) else 0)
        | (_LOWER if _is_lower(ch) else 0)
        # mark_case's per-character `unlowerable` test
        | (_UNLOWERABLE if ((ch in _NEW_CASED or category[0] in ("L", "M")) and not _is_lower(ch)
                            and (not _is_upper(ch) or lower == ch)) else 0)
    )
    # Only İ lowers to two code points, and mark_case keeps İ literal wherever it stands.
    return facts, ord(lower) if len(lower) == 1 else ord(ch)


def nfc(text: str, *, fold_quotes: bool) -> str:
    """``ctok.normalize.nfc``, faster (module docstring); tests/test_claude_fast.py checks them equal."""
    from ctok.constants import FUNNY_SPACE, QUOTE_FOLD, STRIP_CONTROL, STRIP_PRIVATE, SURROGATE

    text = SURROGATE.sub("\ufffd", text)
    text = STRIP_CONTROL.sub("", unicodedata.normalize("NFC", text)).replace("\x00", " ")
    text = text.replace("\u0E4D\u0E32", "\u0E33")
    text = STRIP_PRIVATE.sub("", text)
    if fold_quotes:
        for quote, ascii_quote in QUOTE_FOLD.items():
            text = text.replace(chr(quote), ascii_quote)
    return str(FUNNY_SPACE.sub(" ", text))


class FastClaude:
    """One ctok family counted by ``_claude_core``: ``framed_count`` is ctok's ``token_count``."""

    def __init__(self, family: str, core: ModuleType) -> None:
        from ctok import main
        from ctok.constants import LITERAL_MARKER_ESCAPES

        model: Any = main._model(FAMILY_KEYS[family])
        self.family = family
        self._model = model
        self._escape = LITERAL_MARKER_ESCAPES
        self._core_module = core
        self._core = core.Model(sorted(model.vocab), model.allcaps_min or 0, model.frame_bow)
        self._prepared: set[str] = set()  # characters of texts seen: facts and floor costs handed over
        self._floored: set[str] = set()  # characters with a floor cost handed over
        self._prepare(" σ")  # written by the marker logic itself: the head quote's space, ⟨caps⟩'s σ

    def _prepare(self, text: str) -> None:
        """Hand the C part the facts and floor costs of every code point of ``text`` it does not hold yet."""
        from ctok.engine import char_cost

        # the C part counts the escaped text (stream_norm's LITERAL_MARKER_ESCAPE_TABLE)
        chars = {self._escape.get(ch, ch) for ch in set(text)} - self._prepared
        if not chars:
            return
        with _lock:
            for ch in chars - _lowers.keys():
                facts, lower = _facts(ch)
                self._core_module.set_char(ord(ch), facts, lower)
                _lowers[ch] = chr(lower)
            # the stream holds each character, or its lowercase where a case marker lowered its word
            stream_chars = chars | {_lowers[ch] for ch in chars}
            for ch in stream_chars - self._floored:
                self._core.set_floor(ord(ch), char_cost(self._model, ch))
                self._floored.add(ch)
            self._prepared |= chars

    def content_tokens(self, text: str) -> int:
        """``token_count(text)`` less the frame; holds the GIL for ctok's ``nfc`` only."""
        from ctok.normalize import raw_head_space

        norm = nfc(text, fold_quotes=self._model.fold_quotes)
        self._prepare(norm)
        return int(self._core.count(norm, bool(raw_head_space(text))))

    def framed_count(self, text: str) -> int:
        return int(self._model.message_overhead) + self.content_tokens(text)


def load(family: str) -> FastClaude | None:
    """The compiled counter for ``family``, or None (with the reason logged) when ctok must count."""
    if pure_requested():
        return None
    try:
        from . import _claude_core
    except ImportError as exc:
        logger.info("compiled Claude counter not built (%s); ctok counts", exc)
        return None
    if not ctok_is_verified():
        logger.warning("compiled Claude counter not used: the installed ctok or its data is not the verified "
                       "release; ctok counts")
        return None
    try:
        return FastClaude(family, _claude_core)
    except Exception as exc:  # ctok's private loader changed shape: ctok itself still counts
        logger.warning("compiled Claude counter not loaded (%s); ctok counts", exc)
        return None

