"""Cutting a long text into pieces whose ctok counts add up, so that it is counted in bounded memory.

The cut goes right before a line break: before a ``\\n``, or before the ``\\r`` of a ``\\r\\n``, where the
character ahead of it survives ctok's normalization (it is not a ``\\n``, nor a control character or BMP
private-use character, which ``ctok.normalize.nfc`` deletes). Why the count adds up there, stage by stage:

* Normalization. ``\\n`` and ``\\r`` are starters that compose with nothing, so NFC of the text is NFC of
  the left part followed by NFC of the right part; every other rewrite in ``nfc`` maps characters one by one,
  except Thai SARA AM, which joins two Thai letters. So the normalized text is the normalized left part,
  ending in a character other than ``\\n``, followed by the normalized right part, starting with ``\\n``.
* The marked stream. A run of whitespace is written as itself; the markers around a neighbouring run only
  ask whether that run's edge character is a space (message end and a ``\\n`` both say no); the
  contraction look-back (two runs) from the right part stops at its own leading whitespace run; no seam
  match contains a ``\\n``. So the stream is the left part's stream followed by the right part's, except
  that the right part counted alone starts a message: where the frame ends in ``⟨bow⟩`` (families 3, 4.7)
  and a line break opens the message, ctok writes that ``⟨bow⟩`` as one token of its own.
* The tiling. Both shipped vocabularies hold a ``\\n`` only in pieces made of nothing but ``\\n``, and the
  byte floor prices one character at a time, so no token spans a ``\\n`` and the tiling's cost adds up.
* The frame tail. A left part ends in a character other than ``\\n``, so only the last part has trailing
  newlines for the frame's closing newlines to absorb.

Hence: content count of the text = sum of the parts' content counts - one ``⟨bow⟩`` per part after the
first (``bow_per_cut``). These are facts about one ctok release and its data: ``claude_verified`` names what
was read and swept, and a different ctok counts whole texts.
"""

from __future__ import annotations

from collections.abc import Iterator

#: Characters per piece when a long text is counted; the cut is the first safe one from here on.
PIECE_CHARS = 256 * 1024


def _deleted(ch: str) -> bool:
    """Whether ctok's normalization deletes ``ch``: C0/C1 controls but TAB, LF, NUL; BMP private use."""
    o = ord(ch)
    return (o < 0x20 and ch not in "\t\n\x00") or 0x7F <= o <= 0x9F or 0xE000 <= o <= 0xF8FF


def cut_at(text: str, lf: int) -> int:
    """The cut for the ``\\n`` at ``lf``: its index, the index of its ``\\r``, or -1 where no cut is safe."""
    cut = lf - 1 if lf >= 1 and text[lf - 1] == "\r" else lf
    if cut < 1:
        return -1
    before = text[cut - 1]
    return -1 if before == "\n" or _deleted(before) else cut


def find_cut(text: str, start: int, end: int | None = None) -> int:
    """The first safe cut at or after ``start`` (and before ``end``), or -1."""
    limit = len(text) if end is None else end
    lf = text.find("\n", start, limit)
    while lf != -1:
        cut = cut_at(text, lf)
        if cut >= start:
            return cut
        lf = text.find("\n", lf + 1, limit)
    return -1


def pieces(text: str, piece_chars: int = PIECE_CHARS) -> Iterator[str]:
    """``text`` cut into consecutive pieces of about ``piece_chars`` characters, each cut a safe one.

    A piece is longer when no safe cut follows its target (a text without line breaks is one piece).
    """
    start = 0
    while len(text) - start > piece_chars:
        cut = find_cut(text, start + piece_chars)
        if cut == -1:
            break
        yield text[start:cut]
        start = cut
    yield text[start:]
