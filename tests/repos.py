"""A repository as people have them, and the real CLI entry point run in a subprocess over it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def make_repo(root: Path) -> Path:
    """A small repository as people have them: nested ignores with a negation, a venv, binaries, bad UTF-8."""
    files = {
        ".gitignore": "*.log\n.venv/\nbuild/\n!keep.log\n",
        "README.md": "# Project\n\nRun the tests.\n",
        "src/app.py": "def main():\n    return 42\n",
        "src/.gitignore": "generated_*.py\n!generated_keep.py\n",
        "src/generated_x.py": "x = 1\n",
        "src/generated_keep.py": "y = 2\n",
        "docs/guide.txt": "A guide.\n",
        "docs/.ctxbudgetignore": "drafts/\n",
        "docs/drafts/wip.md": "not yet\n",
        "debug.log": "noise\n",
        "keep.log": "kept\n",
        ".venv/lib/site.py": "import os\n",
        "build/out.js": "console.log(1)\n",
        ".git/HEAD": "ref: refs/heads/main\n",
        "AGENTS.md": "- Use tabs.\n",
    }
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    (root / "logo.png").write_bytes(b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR")
    (root / "latin1.txt").write_bytes("café au lait\n".encode("latin-1"))
    (root / "loop").symlink_to(root)  # a link back to the top: never followed
    return root


def cli(*args: str, cwd: Path | None = None, user: bool = False, input: str | None = None,
        env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """``python -m ctxbudget ARGS``; ``env`` adds to (or, with "", removes from) this process's environment."""
    command = [sys.executable, "-m", "ctxbudget", *args]
    if user:  # root's capabilities would read anything: drop the ones that bypass file modes
        command = ["setpriv", "--inh-caps=-dac_override,-dac_read_search", "--bounding-set=-dac_override,"
                   "-dac_read_search", *command]
    full = {**os.environ, **(env or {})}
    full = {k: v for k, v in full.items() if v != ""}
    return subprocess.run(command, capture_output=True, text=True, timeout=120, cwd=cwd, input=input, env=full)
