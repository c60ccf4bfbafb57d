#!/usr/bin/env bash
# Create .venv with the Python named in .python-version and install ctxbudget with its dev extras.
# Re-running is cheap: the install (which compiles src/ctxbudget/_core.c) is skipped while pyproject.toml,
# setup.py and the C source are unchanged.
set -euo pipefail
cd "$(dirname "$0")/.."

want="$(tr -d '[:space:]' < .python-version)"
find_python() {
    if command -v pyenv >/dev/null 2>&1 && pyenv prefix "$want" >/dev/null 2>&1; then
        echo "$(pyenv prefix "$want")/bin/python"; return
    fi
    for candidate in "$HOME/.pyenv/versions/$want/bin/python" "python${want%.*}" python3; do
        if command -v "$candidate" >/dev/null 2>&1 &&
           "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 12))' 2>/dev/null; then
            echo "$candidate"; return
        fi
    done
    echo "error: Python >= 3.12 not found (wanted $want from .python-version)" >&2
    exit 2
}

# The install compiles three optional extensions (the cache's hot path, the accelerator's guard and the Claude
# counter); without a compiler ctxbudget still installs and runs on its pure-Python path, but the suite should
# test both.
if ! command -v cc >/dev/null 2>&1 && ! command -v gcc >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        apt-get install -y -q gcc libc6-dev >/dev/null
    else
        echo "warning: no C compiler: installing without the compiled extensions (pure-Python path only)" >&2
    fi
fi

# The Redis tier is tested against a real server that each test starts on a free 127.0.0.1 port.
if ! command -v redis-server >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        apt-get install -y -q redis-server >/dev/null 2>&1 ||
            { apt-get update -q >/dev/null 2>&1 && apt-get install -y -q redis-server >/dev/null; }
        # the package starts a system-wide server; the tests start their own
        (systemctl disable --now redis-server || service redis-server stop) >/dev/null 2>&1 || true
    else
        echo "warning: no redis-server: the Redis tier's tests will be skipped" >&2
    fi
fi

if [ ! -x .venv/bin/python ]; then
    "$(find_python)" -m venv .venv
fi
stamp=".venv/.ctxbudget-installed"
digest="$(cat pyproject.toml setup.py src/ctxbudget/_core.c src/ctxbudget/tokenizers/_guard.c \
    src/ctxbudget/tokenizers/_claude_core.c | sha256sum | cut -d' ' -f1)"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$digest" ]; then
    .venv/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip >/dev/null
    .venv/bin/python -m pip install --quiet --disable-pip-version-check -e '.[dev,fast]'
    echo "$digest" > "$stamp"
fi
