"""Screenshot of ``ctxbudget trim`` for the docs: docs/images/trim.svg and docs/images/trim.png.

Runs the screen headlessly on the bundled example (examples/monorepo/CLAUDE.md for codex, the budget the
built-in config gives codex), sorts by tokens, leaves out the largest unit, tries to leave out a protected
one, and saves what is on the screen. The PNG needs cairosvg (``pip install cairosvg``; not a dependency of
ctxbudget) and is drawn with DejaVu Sans Mono, since the SVG's web font is not there offline.

usage: .venv/bin/python scripts/screenshot.py [OUT_DIR]
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from textual.widgets import DataTable

from ctxbudget.config import BudgetConfigManager
from ctxbudget.models.registry import resolve_model
from ctxbudget.operations import OperationType
from ctxbudget.rules.loaders import load_document
from ctxbudget.trimmer.tui import TrimApp

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "monorepo" / "CLAUDE.md"
SIZE = (160, 40)
#: a monospace font every Debian machine has, for the PNG (the SVG names Fira Code, fetched by a browser)
PNG_FONT = "DejaVu Sans Mono"


async def shoot(svg: Path) -> None:
    model = "codex"
    budget = BudgetConfigManager().get_budget(resolve_model(model).budget_key, OperationType.CONTEXT_INJECTION)
    app = TrimApp(load_document(EXAMPLE, name="claude"), model, budget, output=Path("AGENTS.md"))
    async with app.run_test(size=SIZE) as pilot:
        await app.workers.wait_for_complete()
        await pilot.pause()
        await pilot.press("s", "s")  # priority → name → tokens
        table = app.query_one(DataTable)
        table.move_cursor(row=0)
        await pilot.press("space")  # leave out the largest unit
        await app.workers.wait_for_complete()
        protected = next(d.display_index for d in app.displays() if d.protected)
        await pilot.press(*["down"] * (protected - 1), "space")  # and try to leave out a protected one
        await pilot.pause()
        svg.write_text(app.export_screenshot(title="ctxbudget trim CLAUDE.md --tool codex -o AGENTS.md"),
                       encoding="utf-8")


def to_png(svg: Path, png: Path) -> None:
    try:
        import cairosvg  # type: ignore[import-not-found, unused-ignore]
    except ImportError:
        sys.exit("scripts/screenshot.py: the PNG needs cairosvg: .venv/bin/pip install cairosvg")
    text = svg.read_text(encoding="utf-8").replace("Fira Code, monospace", f"'{PNG_FONT}'")
    cairosvg.svg2png(bytestring=text.encode("utf-8"), write_to=str(png), output_width=1800)


def main() -> None:
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "docs" / "images"
    out.mkdir(parents=True, exist_ok=True)
    svg, png = out / "trim.svg", out / "trim.png"
    asyncio.run(shoot(svg))
    to_png(svg, png)
    print(f"wrote {svg} and {png}")


if __name__ == "__main__":
    main()
