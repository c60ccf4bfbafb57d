#!/usr/bin/env bash
# The whole test suite: install, lint, type check, then the tests twice — with the compiled hot path and with
# the pure-Python one (CTXBUDGET_PURE=1). Exit status is the first failure's. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
echo "== ruff"; .venv/bin/ruff check src tests bench scripts
echo "== mypy"; .venv/bin/mypy
echo "== pytest (compiled hot path)"
.venv/bin/python -c "import ctxbudget._speedups as s; assert s.COMPILED, 'the C extension is not built'"
.venv/bin/python -m pytest "$@"
echo "== pytest (pure Python, CTXBUDGET_PURE=1)"
CTXBUDGET_PURE=1 .venv/bin/python -m pytest "$@"
