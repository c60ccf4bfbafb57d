"""The ctok release whose normalizer and vocabulary files were read and parity-swept for ``claude_pieces``.

The cut rule rests on facts about ctok's code (what ``nfc`` deletes, how runs are marked) and data (``\\n``
only in pieces of newlines). ctok's version names the code, the SHA-256 of each shipped vocabulary file the
data; any other combination makes ctok count whole texts, as before.
"""

from __future__ import annotations

import hashlib
from functools import cache

CTOK_VERSION = "1.3.0"
DATA_SHA256 = {
    "pieces_v3.json": "4c6db216062ef01e70ba033ff52ad3b97f886e79877235f2c7bbbd40d09ffb9b",
    "pieces_v4_7.json": "a785fc240010c855f3d9a498fbd422ee389752dd151f1d5eef57ca8c85c19993",
}


def installed_ctok() -> tuple[str, dict[str, str]]:
    """ctok's version and the SHA-256 of each of its vocabulary files named in ``DATA_SHA256``."""
    from importlib.metadata import version
    from importlib.resources import files

    data = files("ctok").joinpath("data")
    digests = {}
    for name in DATA_SHA256:
        path = data.joinpath(name)
        digests[name] = hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else "missing"
    return version("ctok"), digests


@cache
def ctok_is_verified() -> bool:
    """Whether the installed ctok is the verified release with the verified data (read once per process)."""
    try:
        found = installed_ctok()
    except Exception:  # ctok missing or unreadable: nothing to cut for
        return False
    return found == (CTOK_VERSION, DATA_SHA256)
