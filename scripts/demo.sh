#!/usr/bin/env bash
# The main job on the bundled examples: count the instruction files for several models...
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
.venv/bin/ctxbudget count examples/instructions \
    -m claude -m claude-3-7-sonnet -m gpt-5-codex -m gpt-4 -m gemini-2.5-pro
# ...see what each agent would load if started there, and what that costs against its budget...
.venv/bin/ctxbudget agents examples/instructions --no-user
# ...and fit a long CLAUDE.md into Codex's 2,000-token context budget: which units stay, which go
.venv/bin/ctxbudget fit examples/monorepo/CLAUDE.md -m gpt-5-codex
