"""An optional accelerator for exact OpenAI counts of large batches and long texts: toktok-rs.

toktok-rs counts (never builds token ids) about ten times faster than tiktoken here. It is trusted only as
far as it was verified against tiktoken, the reference:

* the installed toktok extension must have the SHA-256 recorded in ``_accelerator_data`` — its vocabularies
  are compiled in, so this pins both the vocabulary and the code the parity tests checked — and tiktoken
  must be the version the guard was generated against;
* texts holding a code point of ``REFERENCE_ONLY_RANGES`` are counted by tiktoken: surrogates (toktok
  raises on them), everything unassigned in Unicode 15.0 (toktok's newer Unicode tables make letters of
  characters tiktoken 0.14 does not know), and whatever else the generator's sweep found counted
  differently (``scripts/gen_accelerator_guard.py``; ``tests/test_accelerator.py`` re-runs the sweep).

Loading costs ~0.5 s (toktok builds its tables holding the GIL) and ~65 MiB for o200k, more than a small job
saves, so a backend loads it in a background thread when a batch or long text arrives after it has already
counted ``ACCELERATE_AFTER_CHARS`` characters that way (what has been counted predicts what is still to come;
the text at hand is counted by tiktoken meanwhile). Loading needs nothing from tiktoken but its version: the
probe's expected counts are recorded. ``CTXBUDGET_ACCELERATOR=0`` turns it off, ``=1`` loads it as soon as a
backend is created.
It needs the ``fast`` extra (``pip install 'ctxbudget[fast]'``) and the compiled guard (``tokenizers/_guard.c``).
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Callable, Sequence
from pathlib import Path

from .._util import pure_requested
from .parallel import chunk_by_chars, piece_reporter

logger = logging.getLogger("ctxbudget.tokenizers")

#: Encodings toktok ships that the guard was verified for.
ENCODINGS = ("o200k_base", "cl100k_base")
#: Where each code point is placed by the parity sweep ({c} is the code point).
CONTEXTS = (
    "{c}", "x{c}x", "X{c}x", "x{c}X", " {c}a", "{c}{c}", "1{c}1", "{c}  a", "a{c}'s", "{c}\n\nb", "!{c}a",
    "é{c}Ab", "{c}'s", "a{c}", "{c}a", "a {c}", "{c}1", "a{c}\n", "{c}'S", "a{c}'ll", "\t{c}", "{c}\r\n",
)
#: Characters a backend counts (in batches and long texts) before it loads the accelerator.
ACCELERATE_AFTER_CHARS = 8 << 20
ENV_VAR = "CTXBUDGET_ACCELERATOR"
#: Texts the loaded accelerator must count as tiktoken 0.14 does (``PROBE_COUNTS``, checked against tiktoken
#: by tests/test_accelerator.py), and one the guard must keep from it; recorded, so that loading the
#: accelerator does not need tiktoken's Encoding, which a stream the accelerator counts may never build.
PROBE = ("hello world", "Grüße, 世界! <|endoftext|>", "    indented\r\n\tcode(x) == 42;")
PROBE_COUNTS = {"o200k_base": [2, 13, 11], "cl100k_base": [2, 15, 11]}
GUARDED_PROBE = "a\u088f's \ud800"
#: Characters per toktok call while someone watches the count advance (``parallel.piece_reporter``): a call
#: costs ~30 us, a MiB ~20 ms.
REPORT_CHARS = 1 << 20


def mode() -> str:
    """``off``, ``eager`` or ``auto`` from ``CTXBUDGET_ACCELERATOR`` (0/off, 1/on/eager, anything else)."""
    value = os.environ.get(ENV_VAR, "").strip().lower()
    if value in ("0", "off", "false", "no"):
        return "off"
    if value in ("1", "on", "true", "yes", "eager"):
        return "eager"
    return "auto"


def toktok_binary() -> Path:
    """The toktok extension module Python actually imports (ImportError when toktok is not installed)."""
    from toktok import _toktok

    path = getattr(_toktok, "__file__", None)
    if not path:
        raise ImportError("toktok's extension module has no file")
    return Path(path)


class Accelerator:
    """toktok counts for the texts the guard clears; ``reference`` (tiktoken's count) for the others."""

    def __init__(
        self, name: str, count_many: Callable[..., list[int]], reference: Callable[[str], int],
        reference_only: Callable[[list[str]], list[int]],
    ) -> None:
        self.name = name
        self._count_many = count_many
        self._reference = reference
        self._reference_only = reference_only

    def count_batch(self, texts: Sequence[str], threads: int = 1) -> list[int]:
        """Counts in order. ``threads`` is toktok's: 1 for a batch (the stream's workers count batches side by
        side), 0 (every core) for the pieces of one long text, as tiktoken's split path also uses every core."""
        report = piece_reporter.get()
        if report is None or sum(map(len, texts)) <= REPORT_CHARS:
            return self._count_batch(texts, threads)
        counts: list[int] = []
        for chunk in chunk_by_chars(texts, REPORT_CHARS):
            counts.extend(self._count_batch(chunk, threads))
            report(sum(map(len, chunk)))
        return counts

    def _count_batch(self, texts: Sequence[str], threads: int) -> list[int]:
        items = list(texts)  # our own copy: what the guard checked is what toktok gets
        guarded = self._reference_only(items)
        if not guarded:
            return [n or 1 for n in self._count_many(items, self.name, threads)]
        skip = set(guarded)
        fast = iter(self._count_many([t for i, t in enumerate(items) if i not in skip], self.name, threads))
        return [self._reference(t) if i in skip else next(fast) or 1 for i, t in enumerate(items)]

    def count(self, text: str) -> int:
        return self.count_batch([text])[0]


_guard_installed = False


def load(name: str, reference: Callable[[str], int]) -> Accelerator | None:
    """The accelerator for encoding ``name``, or None (with the reason logged) when it is not to be trusted.
    ``reference`` counts the texts the guard keeps from toktok (tiktoken, minimum 1)."""
    global _guard_installed
    if name not in ENCODINGS:
        return None
    # generated by scripts/gen_accelerator_guard.py, which imports this module: read at load time
    from ._accelerator_data import REFERENCE_ONLY_RANGES, TIKTOKEN_VERSION, TOKTOK_BINARY_SHA256, TOKTOK_VERSION

    try:
        if pure_requested():
            raise ImportError("CTXBUDGET_PURE is set")
        import tiktoken
        import toktok

        from . import _guard  # compiled; without it nothing could keep the guarded texts away from toktok

        binary = toktok_binary()
    except ImportError as exc:
        logger.info("accelerator not available (%s); counting with tiktoken only", exc)
        return None
    found = (toktok.__version__, tiktoken.__version__)
    if found != (TOKTOK_VERSION, TIKTOKEN_VERSION):  # the guard was generated for exactly these two releases
        logger.warning("accelerator not used: verified for toktok %s with tiktoken %s, found %s with %s",
                       TOKTOK_VERSION, TIKTOKEN_VERSION, *found)
        return None
    digest = hashlib.sha256(binary.read_bytes()).hexdigest()
    if digest != TOKTOK_BINARY_SHA256:
        logger.warning("accelerator not used: %s has SHA-256 %s, verified build is %s",
                       binary, digest, TOKTOK_BINARY_SHA256)
        return None
    if not _guard_installed:
        _guard.set_reference_only(REFERENCE_ONLY_RANGES)
        _guard_installed = True
    accelerator = Accelerator(name, toktok.batch_count, reference, _guard.reference_only)
    counts = toktok.batch_count(list(PROBE), name, 1)
    guarded = _guard.reference_only([GUARDED_PROBE])
    if counts != PROBE_COUNTS[name] or guarded != [0]:  # pragma: no cover - a pinned binary cannot change
        logger.warning("accelerator not used: its %s counts or guard differ from the verified ones on the probe",
                       name)
        return None
    return accelerator
