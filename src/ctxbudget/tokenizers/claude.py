"""Claude counts reconstructed offline by ctok (no official tokenizer exists since Claude 3).

Family "3" serves Claude 3 .. Opus 4.6, family "4.7" Opus 4.7, family "4.8" Opus 4.8 and later (4.7's
vocabulary under a different message frame, which can change the first token of the content). ctok's ``token_count``
prices a one-message API request: its token list starts with the message frame as ``⟨pad⟩`` pieces.
Content counts leave the frame out; ``include_frame=True`` adds it back.

A text longer than ``piece_chars`` is counted in pieces cut where the counts provably add up
(``claude_pieces``), so memory follows the piece size rather than the text. Where the compiled counter is built
(``claude_fast``: ctok's count in C, many times faster), it counts, and the pieces of a long text are counted
on every core, since it runs without the GIL. Both rest on one verified ctok release (``claude_verified``);
any other ctok counts whole texts itself.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Sequence
from concurrent.futures import Future

from ..errors import TokenizerLoadError
from . import claude_fast
from .base import RECONSTRUCTED, TokenizerType
from .claude_pieces import PIECE_CHARS, pieces
from .claude_verified import ctok_is_verified
from .parallel import LazyPool, piece_reporter, worker_count

# Tokenizer generation -> the version string ctok routes to it.
CTOK_VERSIONS = {"3": "3.0", "4.7": "4.7", "4.8": "4.8"}
_PAD = "⟨pad⟩"
#: From this many characters on, the compiled counter counts a text's pieces on every core.
PARALLEL_CHARS = 1 << 20

# The compiled counter's own threads: the shared pool's tasks may be counting a text that is cut into pieces
# here, and a task waiting on tasks of its own pool can deadlock it.
_piece_pool = LazyPool("ctxbudget-claude")


def ctok_version() -> str:
    from importlib.metadata import PackageNotFoundError, version  # ~15 ms: only when Claude is used

    try:
        return version("ctok")
    except PackageNotFoundError:  # pragma: no cover - only when ctok is vendored oddly
        return "unknown"


class ClaudeBackend:
    """ctok's reconstruction for one tokenizer generation; ``exact=False``, kind ``reconstructed``."""

    tokenizer_type = TokenizerType.CLAUDE
    exact = False
    kind = RECONSTRUCTED
    cacheable = True

    def __init__(self, family: str = "4.7", *, include_frame: bool = False, piece_chars: int = PIECE_CHARS,
                 compiled: bool | None = None) -> None:
        """``compiled``: None uses the compiled counter where it loads, False never, True insists on it."""
        if family not in CTOK_VERSIONS:
            raise ValueError(f"Unknown Claude tokenizer family {family!r}; known: {', '.join(CTOK_VERSIONS)}")
        try:
            import ctok
        except ImportError as exc:
            raise TokenizerLoadError(
                "ctok library not available (Claude counts need it): pip install ctok  (Python >= 3.12)"
            ) from exc
        self.family = family
        self.include_frame = include_frame
        self.piece_chars = max(1, piece_chars)
        self._version = CTOK_VERSIONS[family]
        self._tokenize = ctok.tokenize
        try:
            self.frame_tokens = self._frame_size()
            # What each cut adds to the sum of the pieces' framed counts: the second piece's frame, and the
            # ⟨bow⟩ the frame writes where a message opens with a line break (claude_pieces). Measured on a
            # text with one cut rather than read from ctok's private model.
            self.cut_tokens = self._whole("a") + self._whole("\na") - self._whole("a\na")
        except Exception as exc:
            raise TokenizerLoadError(f"ctok could not load the Claude {family} vocabulary: {exc}") from exc
        self._fast = None if compiled is False else claude_fast.load(family)
        if compiled and self._fast is None:
            raise TokenizerLoadError("the compiled Claude counter is not available (see the log for why)")
        frame = "+frame" if include_frame else ""
        self.tokenizer_id = f"ctok:claude-{family}{frame}@{ctok_version()}"

    def _frame_size(self) -> int:
        tokens = self._tokenize("", self._version)
        return sum(1 for t in tokens if t == _PAD)

    def _whole(self, text: str) -> int:
        """ctok's framed count of ``text`` in one call."""
        return len(self._tokenize(text, self._version))

    @property
    def compiled(self) -> bool:
        """Whether the compiled counter counts for this backend."""
        return self._fast is not None

    def framed_count(self, text: str) -> int:
        """ctok's ``token_count`` of ``text``, counted in pieces when it is long."""
        fast = self._fast
        whole = self._whole if fast is None else fast.framed_count
        if len(text) <= self.piece_chars or not ctok_is_verified():
            return whole(text)
        parts = pieces(text, self.piece_chars)
        if fast is not None and len(text) >= PARALLEL_CHARS and worker_count() > 1:
            counts = self._count_in_parallel(parts, fast.framed_count)
        else:
            counts = []
            report = piece_reporter.get()
            for part in parts:
                counts.append(whole(part))
                if report is not None:
                    report(len(part))
        return sum(counts) - (len(counts) - 1) * self.cut_tokens

    @staticmethod
    def _count_in_parallel(parts: Iterable[str], count: claude_fast.Count) -> list[int]:
        """Each piece's count, in order; at most two pieces per thread in flight, so memory stays bounded."""
        pool = _piece_pool.get()
        report = piece_reporter.get()
        counts: list[int] = []
        flight: deque[tuple[int, Future[int]]] = deque()

        def settle() -> None:
            chars, future = flight.popleft()
            counts.append(future.result())
            if report is not None:
                report(chars)

        for part in parts:
            flight.append((len(part), pool.submit(count, part)))
            if len(flight) > 2 * worker_count():
                settle()
        while flight:
            settle()
        return counts

    def count(self, text: str) -> int:
        framed = self.framed_count(text)
        if self.include_frame:
            return framed
        return max(1, framed - self.frame_tokens)

    def _count_chunk(self, texts: Sequence[str]) -> list[int]:
        return [self.count(t) for t in texts]

    def count_batch(self, texts: Sequence[str]) -> list[int]:
        # ctok is pure Python: threads cannot run it in parallel, so chunking only serves async callers.
        return self._count_chunk(texts)


