#!/usr/bin/env bash
# ctxbudget installed the ways users install it, each in a fresh virtual environment, counting exactly:
#   1. from the sdist on a machine without a C compiler (CC=false), with another tiktoken release (0.12.0) and
#      no extras: the pure-Python path, the public tiktoken API, no accelerator;
#   2. the same sdist with the compiler: the compiled path, still without the [fast] extra.
# Each runs the counting tests (exact golden counts, the registry walk, the README snippets; the hot-path tests
# for the second) against the installed package, not the source tree.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh >/dev/null

scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
pip_quiet=(--quiet --disable-pip-version-check)
tests=(tests/test_openai_parity.py tests/test_counter.py tests/test_cache.py tests/test_core.py
       tests/test_registry_walk.py tests/test_readme.py tests/test_fit.py)

.venv/bin/python -m venv "$scratch/venv"
py="$scratch/venv/bin/python"
"$py" -m pip install "${pip_quiet[@]}" build
"$py" -m build --sdist --outdir "$scratch/dist" . >/dev/null
sdist="$(ls "$scratch"/dist/ctxbudget-*.tar.gz)"

echo "== install 1: sdist, no C compiler, tiktoken 0.12.0, no extras"
CC=false "$py" -m pip install "${pip_quiet[@]}" "$sdist" "tiktoken==0.12.0" pytest pytest-asyncio hypothesis
"$py" - <<'PY'
import importlib.metadata as md, importlib.util
import ctxbudget, ctxbudget._speedups as s
assert "site-packages" in ctxbudget.__file__, ctxbudget.__file__
assert not s.COMPILED and importlib.util.find_spec("ctxbudget._core") is None, "expected no compiled core"
assert importlib.util.find_spec("toktok") is None, "toktok-rs is an extra, not a dependency"
assert md.version("tiktoken") == "0.12.0"
from ctxbudget import TokenCounter
detail = TokenCounter.count_tokens_detailed("Hello, world! Привет, мир! 你好", "gpt-4")
print("pure path, tiktoken", md.version("tiktoken"), "->", detail.count, detail.tokenizer_id)
PY
(cd "$scratch" && cp -r "$OLDPWD/tests" "$OLDPWD/README.md" "$OLDPWD/docs" "$OLDPWD/examples" "$OLDPWD/scripts" \
        "$OLDPWD/pyproject.toml" . &&
    "$py" -m pytest -q -p no:cacheprovider "${tests[@]}")

echo "== install 2: the same sdist with the compiler, still no extras"
"$py" -m pip install "${pip_quiet[@]}" --force-reinstall --no-deps "$sdist"
"$py" -c "import ctxbudget._speedups as s; assert s.COMPILED, 'the extension did not build'; print('compiled path')"
(cd "$scratch" && "$py" -m pytest -q -p no:cacheprovider tests/test_core.py tests/test_cache.py tests/test_counter.py \
    tests/test_store_parity.py tests/test_readme.py)
