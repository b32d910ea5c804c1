#!/usr/bin/env bash
# Load benchmark of POST /predict with wrk on loopback, three servers back to
# back in one run:
#   api       the release binary, serving a model that etl trains here
#   constant  a warp server that returns a constant body (the ceiling),
#             built from api/examples/constant_server.rs
#   peer      the service being replaced, started by the command in PEER_RUN
#             with the port appended (skipped when PEER_RUN is unset)
# In each of ROUNDS rounds every server gets a warm-up, then CONNECTIONS
# connections for DURATION with the reference request body; the summary
# lists each round and the median. Peak RSS is VmHWM from /proc/PID/status
# after the last round. CPU time per request is the server process's user
# plus system time (/proc/PID/stat) over the measured run, divided by the
# requests wrk completed: it varies less than requests/s on a shared machine.
#
# wrk and the servers run on separate CPUs (taskset): wrk on CLIENT_CPUS,
# each server on SERVER_CPUS. On a 2-core machine, letting them share both
# cores makes the scheduler, not the server, decide the tail latency. A
# tokio server sizes its worker pool to the CPUs it may use, so the api and
# the constant server each run one worker here, as the peer runs one
# uvicorn worker. PIN=0 runs everything unpinned. Needs wrk (Debian
# package `wrk`) and taskset (util-linux).
#
# Usage: PEER_RUN="/path/to/peer/run.sh" api/bench/run.sh
# Settings (environment): DURATION (default 10s), ROUNDS (3), CONNECTIONS (64),
# THREADS (wrk threads: 1 when pinned, else 2), WARMUP (3s), OUT (raw
# outputs, default a new directory under /tmp), API_PORT (18000),
# CONSTANT_PORT (18001), PEER_PORT (18002), PIN (1), CLIENT_CPUS (0),
# SERVER_CPUS (1).
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
duration=${DURATION:-10s}
rounds=${ROUNDS:-3}
connections=${CONNECTIONS:-64}
pin=${PIN:-1}
client_cpus=${CLIENT_CPUS:-0}
server_cpus=${SERVER_CPUS:-1}
if [[ "$pin" == 1 ]]; then
  threads=${THREADS:-1}
  client=(taskset -c "$client_cpus")
  server=(taskset -c "$server_cpus")
else
  threads=${THREADS:-2}
  client=()
  server=()
fi
warmup=${WARMUP:-3s}
out=${OUT:-$(mktemp -d /tmp/api-bench.XXXXXX)}
api_port=${API_PORT:-18000}
constant_port=${CONSTANT_PORT:-18001}
peer_port=${PEER_PORT:-18002}
target=${CARGO_TARGET_DIR:-$root/target}
mkdir -p "$out"

command -v wrk >/dev/null || { echo "wrk is not installed: apt-get install wrk" >&2; exit 1; }

pids=()
cleanup() {
  # A peer command may fork, so its listener is stopped by PID as well.
  local peer_pid
  peer_pid=$(listener_pid "$peer_port" || true)
  for pid in "${pids[@]}" $peer_pid; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup EXIT

echo "== building (release)"
(cd "$root" && cargo build --release --quiet -p api --bin api --example constant_server -p etl --bin etl)

echo "== training the model with etl"
"$target/release/etl" --output-dir "$out/model" >"$out/etl.log" 2>&1

cat >"$out/post.lua" <<'LUA'
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"sepal length (cm)": 5.1, "sepal width (cm)": 3.5, "petal length (cm)": 1.4, "petal width (cm)": 0.2}'
LUA

# Waits until PORT returns 200 to POST /predict, for at most $2 seconds.
wait_ready() {
  local port=$1 limit=$2 waited=0
  until curl -sf -o /dev/null -X POST -H 'content-type: application/json' \
      --data "$(sed -n "s/^wrk.body = '\(.*\)'$/\1/p" "$out/post.lua")" "http://127.0.0.1:$port/predict"; do
    sleep 0.5
    waited=$((waited + 1))
    if ((waited > limit * 2)); then echo "server on port $port did not start" >&2; exit 1; fi
  done
}

# Prints the PID of the process listening on 127.0.0.1:PORT.
listener_pid() {
  ss -ltnpH "sport = :$1" | sed -n 's/.*pid=\([0-9]*\).*/\1/p' | head -n1
}

# Prints the user plus system CPU time of process PID in clock ticks.
cpu_ticks() {
  awk '{print $14 + $15}' "/proc/$1/stat"
}

echo "== starting servers"
RUST_LOG=warn,warp::server::run=off "${server[@]}" "$target/release/api" --addr "127.0.0.1:$api_port" --model "$out/model/model.json" >"$out/api.log" 2>&1 &
pids+=($!)
"${server[@]}" "$target/release/examples/constant_server" "127.0.0.1:$constant_port" >"$out/constant.log" 2>&1 &
pids+=($!)
names=(api constant)
ports=($api_port $constant_port)
if [[ -n "${PEER_RUN:-}" ]]; then
  # shellcheck disable=SC2086 # PEER_RUN may carry arguments.
  "${server[@]}" $PEER_RUN "$peer_port" >"$out/peer.log" 2>&1 &
  pids+=($!)
  names+=(peer)
  ports+=($peer_port)
fi
wait_ready "$api_port" 30
wait_ready "$constant_port" 30
[[ -n "${PEER_RUN:-}" ]] && wait_ready "$peer_port" 900

echo "== machine"
{
  echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "nproc: $(nproc)"
  echo "cpu: $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n1)"
  echo "memory: $(free -h | awk '/^Mem:/ {print $2}')"
  echo "kernel: $(uname -r)"
  echo "wrk: $(wrk -v 2>&1 | head -n1)"
  echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
  if [[ "$pin" == 1 ]]; then
    echo "pinning: wrk on CPU $client_cpus, servers on CPU $server_cpus"
  else
    echo "pinning: none"
  fi
  echo "command: wrk -t$threads -c$connections -d$duration --latency -s post.lua http://127.0.0.1:PORT/predict"
} | tee "$out/machine.txt"

# Rounds alternate between the servers, so that a change in the machine's
# background load during the run reaches all of them alike.
for round in $(seq 1 "$rounds"); do
  for i in "${!names[@]}"; do
    name=${names[$i]} port=${ports[$i]}
    echo "== round $round: $name (port $port)"
    pid=$(listener_pid "$port")
    "${client[@]}" wrk -t"$threads" -c"$connections" -d"$warmup" -s "$out/post.lua" "http://127.0.0.1:$port/predict" >/dev/null
    cpu_before=$(cpu_ticks "$pid")
    "${client[@]}" wrk -t"$threads" -c"$connections" -d"$duration" --latency -s "$out/post.lua" \
      "http://127.0.0.1:$port/predict" | tee "$out/wrk-$name-$round.txt"
    echo "$(($(cpu_ticks "$pid") - cpu_before))" >"$out/cpu-$name-$round.txt"
  done
done
for i in "${!names[@]}"; do
  grep VmHWM "/proc/$(listener_pid "${ports[$i]}")/status" >"$out/rss-${names[$i]}.txt"
done

# Prints a wrk latency (such as 850.00us, 1.20ms or 1.02s) in milliseconds.
to_ms() {
  awk -v value="$1" 'BEGIN {
    if (value ~ /us$/) printf "%.3f", value / 1000
    else if (value ~ /ms$/) printf "%.3f", value + 0
    else if (value ~ /s$/) printf "%.3f", value * 1000
  }'
}

# Prints one table row per round of NAME and then its medians.
summary() {
  local name=$1 round file rps p50 p99 non2xx requests cpu
  local all_rps=() all_p50=() all_p99=() all_cpu=()
  for round in $(seq 1 "$rounds"); do
    file=$out/wrk-$name-$round.txt
    rps=$(awk '/^Requests\/sec:/ {printf "%.0f", $2}' "$file")
    p50=$(to_ms "$(awk '$1 == "50%" {print $2}' "$file")")
    p99=$(to_ms "$(awk '$1 == "99%" {print $2}' "$file")")
    non2xx=$(awk '/Non-2xx/ {print $NF}' "$file")
    requests=$(awk '/ requests in / {print $1}' "$file")
    cpu=$(awk -v ticks="$(cat "$out/cpu-$name-$round.txt")" -v hz="$(getconf CLK_TCK)" -v n="$requests" \
      'BEGIN {printf "%.2f", ticks / hz * 1e6 / n}')
    all_rps+=("$rps") all_p50+=("$p50") all_p99+=("$p99") all_cpu+=("$cpu")
    printf '| %s | %s | %s | %s | %s | %s | %s |\n' "$name" "$round" "$rps" "$p50" "$p99" "$cpu" "${non2xx:-0}"
  done
  median() { printf '%s\n' "$@" | sort -g | awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)]}'; }
  printf '| %s | median | %s | %s | %s | %s | peak RSS %s |\n' "$name" "$(median "${all_rps[@]}")" \
    "$(median "${all_p50[@]}")" "$(median "${all_p99[@]}")" "$(median "${all_cpu[@]}")" \
    "$(awk '{print $2, $3}' "$out/rss-$name.txt")"
}

echo "== summary"
{
  echo "| server | round | requests/s | p50 (ms) | p99 (ms) | CPU µs/request | non-2xx |"
  echo "| --- | --- | --- | --- | --- | --- | --- |"
  for name in "${names[@]}"; do summary "$name"; done
  echo
  echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
} | tee "$out/summary.md"
echo "raw outputs: $out"
