#!/usr/bin/env bash
# Benchmark: the release etl binary against the same pipeline in pandas +
# scikit-learn, on one generated 1,000,000-row CSV, in one run.
#
# Each pair runs back to back (etl, then Python) RUNS times; /usr/bin/time -v
# measures wall time and peak resident set size. The report prints every
# run, the medians and the ratios etl / Python.
#
# Usage: etl/bench/run.sh            (ROWS=1000000 RUNS=3 by default)
# Files: /tmp/etl-bench (CSV, outputs, Python venv); nothing is committed.
set -euo pipefail

repo="$(cd "$(dirname "$0")/../.." && pwd)"
work="${BENCH_DIR:-/tmp/etl-bench}"
rows="${ROWS:-1000000}"
runs="${RUNS:-3}"
venv="$work/venv"
csv="$work/rows-$rows.csv"
target_dir="${CARGO_TARGET_DIR:-$repo/target}"
mkdir -p "$work"

if [ ! -x /usr/bin/time ]; then
  apt-get update -qq && apt-get install -y -qq time >/dev/null
fi
if [ ! -x "$venv/bin/python" ]; then
  echo "== creating the Python environment in $venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q pandas scikit-learn
fi

echo "== building the release etl binary"
(cd "$repo" && cargo build --release --locked -p etl)
etl="$target_dir/release/etl"

if [ ! -s "$csv" ]; then
  echo "== generating $csv"
  "$venv/bin/python" "$repo/etl/bench/generate.py" "$csv" "$rows"
fi

echo "== machine"
echo "nproc: $(nproc)"
echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')"
echo "memory: $(free -g | awk '/^Mem:/ {print $2 " GiB"}')"
echo "input: $csv ($(wc -c <"$csv") bytes)"
"$venv/bin/python" -c 'import sklearn, pandas, numpy; print(f"scikit-learn {sklearn.__version__}, pandas {pandas.__version__}, numpy {numpy.__version__}")'
"$etl" --version

# Runs a command under /usr/bin/time -v and prints "seconds kilobytes".
measure() {
  local log="$work/time.log"
  /usr/bin/time -v "$@" >"$work/stdout.log" 2>"$log" || {
    echo "failed: $*" >&2
    tail -n 20 "$log" >&2
    exit 1
  }
  awk -F': ' '
    /Elapsed \(wall clock\)/ {
      n = split($2, part, ":")
      seconds = (n == 3) ? part[1] * 3600 + part[2] * 60 + part[3] : part[1] * 60 + part[2]
    }
    /Maximum resident set size/ { kilobytes = $2 }
    END { printf "%.2f %d\n", seconds, kilobytes }
  ' "$log"
}

# Prints $1 / $2 with the given number of decimals ($3).
divide() {
  awk -v a="$1" -v b="$2" -v d="$3" 'BEGIN { printf "%.*f", d, a / b }'
}

median() {
  sort -n | awk '{ value[NR] = $1 } END { print (NR % 2) ? value[(NR + 1) / 2] : (value[NR / 2] + value[NR / 2 + 1]) / 2 }'
}

: >"$work/etl.results"
: >"$work/python.results"
echo "== runs (wall seconds, peak RSS MiB)"
for run in $(seq 1 "$runs"); do
  load="$(cut -d' ' -f1-3 /proc/loadavg)"
  read -r etl_seconds etl_kb < <(measure "$etl" --input "$csv" --output-dir "$work/etl-out" --min-accuracy 0)
  etl_summary="$(head -n 1 "$work/stdout.log")"
  read -r py_seconds py_kb < <(measure "$venv/bin/python" "$repo/etl/bench/sklearn_pipeline.py" "$csv" "$work/python-out")
  py_summary="$(head -n 1 "$work/stdout.log")"
  echo "$etl_seconds $etl_kb" >>"$work/etl.results"
  echo "$py_seconds $py_kb" >>"$work/python.results"
  printf 'run %d (load average before: %s)\n' "$run" "$load"
  printf '  etl     %6.2f s %7s MiB  %s\n' "$etl_seconds" "$(divide "$etl_kb" 1024 1)" "$etl_summary"
  printf '  python  %6.2f s %7s MiB  %s\n' "$py_seconds" "$(divide "$py_kb" 1024 1)" "$py_summary"
done

etl_time="$(cut -d' ' -f1 "$work/etl.results" | median)"
etl_rss="$(cut -d' ' -f2 "$work/etl.results" | median)"
py_time="$(cut -d' ' -f1 "$work/python.results" | median)"
py_rss="$(cut -d' ' -f2 "$work/python.results" | median)"
echo "== medians of $runs runs"
printf 'etl     %6.2f s %7s MiB\n' "$etl_time" "$(divide "$etl_rss" 1024 1)"
printf 'python  %6.2f s %7s MiB\n' "$py_time" "$(divide "$py_rss" 1024 1)"
echo "ratio etl/python: time $(divide "$etl_time" "$py_time" 2), peak RSS $(divide "$etl_rss" "$py_rss" 2) (target: at most 0.50 each)"
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
