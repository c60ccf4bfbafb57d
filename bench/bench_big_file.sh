#!/usr/bin/env bash
# One large file through the CLI, with the accelerator's default policy and with it off: wall time and peak
# memory per run. A job of one file should not pay for loading the accelerator it cannot use.
# Usage: bash bench/bench_big_file.sh [MiB=10] [rounds=3]
set -euo pipefail
cd "$(dirname "$0")/.."
mib="${1:-10}"
rounds="${2:-3}"
file="$(mktemp --suffix=.md)"
trap 'rm -f "$file"' EXIT
.venv/bin/python - "$file" "$mib" <<'PY'
import sys
sys.path.insert(0, "bench")
from bench_backends import mixed_text
open(sys.argv[1], "w", encoding="utf-8").write(mixed_text(int(sys.argv[2]) << 20))
PY
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
for _ in $(seq "$rounds"); do
    for mode in auto 0; do
        /usr/bin/time -f "CTXBUDGET_ACCELERATOR=$mode  %e s  %M KiB" env "CTXBUDGET_ACCELERATOR=$mode" \
            .venv/bin/ctxbudget count "$file" -m gpt-4o >/dev/null
    done
done
