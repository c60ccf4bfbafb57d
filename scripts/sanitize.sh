#!/usr/bin/env bash
# The compiled parts under AddressSanitizer and UndefinedBehaviorSanitizer: build the extensions with the
# sanitizers into a scratch copy of the source, then run the tests that drive them against that copy
# (PYTHONMALLOC=malloc, so that the sanitizer also sees Python's own allocations). Any report fails the run.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh >/dev/null

scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
mkdir "$scratch/project"
cp -r src setup.py pyproject.toml README.md "$scratch/project/"
flags="-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer -O1 -g"
CFLAGS="$flags" LDFLAGS="-fsanitize=address,undefined" .venv/bin/python -m pip install -q --no-deps \
    --disable-pip-version-check --target "$scratch/site" "$scratch/project" >"$scratch/build.log" 2>&1 ||
    { cat "$scratch/build.log" >&2; exit 1; }

export PYTHONPATH="$scratch/site" PYTHONMALLOC=malloc
export LD_PRELOAD="$(gcc -print-file-name=libasan.so)"
export ASAN_OPTIONS="detect_leaks=0:abort_on_error=1:strict_string_checks=1"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
.venv/bin/python - "$scratch" <<'PY'
import sys
import ctxbudget._core, ctxbudget.tokenizers._guard, ctxbudget.tokenizers._claude_core, ctxbudget._speedups as s
for module in (ctxbudget._core, ctxbudget.tokenizers._guard, ctxbudget.tokenizers._claude_core):
    assert module.__file__.startswith(sys.argv[1]), f"{module.__name__} came from {module.__file__}"
assert s.COMPILED
print("sanitized build:", ctxbudget._core.__file__)
PY
# the accelerator's two 1.1-million-code-point sweeps check toktok, not our C; the guard is driven by the rest
.venv/bin/python -m pytest -q -p no:randomly tests/test_core.py tests/test_store_parity.py tests/test_cache.py \
    tests/test_counter.py tests/test_batch_async.py tests/test_accelerator.py \
    -k "not every_cleared_code_point_counts_as_tiktoken" "$@"
# the compiled Claude counter: its parity tests (the pure-ctok ones check ctok, not our C), threads included;
# the long-run and cut-everywhere sweeps spend their time in ctok's expected counts (pure Python, many times
# slower here) and run our C on the same code paths as the corpus, 1 MiB and hypothesis tests kept
.venv/bin/python -m pytest -q -p no:randomly tests/test_claude_fast.py \
    -k "compiled and not long_runs and not corpus_concatenations" "$@"
