#!/usr/bin/env bash
# Times the orchestrator and docker-compose on the same stack, side by side
# in one run: `up` from nothing (no image, container, volume or network)
# until the first 200 on POST /predict, a no-op `up`, and `down`. Prints the
# median of RUNS runs (default 3) of each, their ratio and the image sizes.
#
#   orchestrator/bench/run.sh            # from anywhere in the repository
#   RUNS=5 orchestrator/bench/run.sh
#
# Needs: a running Docker Engine, docker-compose, curl, and free host ports
# 18181 (orchestrator) and 18182 (compose).
set -euo pipefail
cd "$(dirname "$0")/../.."

RUNS=${RUNS:-3}
STACK=orchestrator/bench/stack.toml
BIN="${CARGO_TARGET_DIR:-target}/release/orchestrator"
COMPOSE=(docker-compose -p benchcompose -f orchestrator/bench/docker-compose.yml)
BODY='{"sepal length (cm)": 5.1, "sepal width (cm)": 3.5, "petal length (cm)": 1.4, "petal width (cm)": 0.2}'

now() { date +%s.%N; }
elapsed() { echo "$2 - $1" | bc; }
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

wait_for_200() {
  local port=$1 deadline=$((SECONDS + 120))
  until [ "$(curl -s -o /dev/null -w '%{http_code}' -X POST "http://127.0.0.1:$port/predict" \
      -H 'Content-Type: application/json' -d "$BODY")" = 200 ]; do
    if [ $SECONDS -gt $deadline ]; then echo "timed out: no 200 from POST /predict on port $port within 120 s" >&2; exit 1; fi
    sleep 0.05
  done
}

reset_orchestrator() { "$BIN" -q -f "$STACK" down --volumes --images >/dev/null; }
reset_compose() {
  "${COMPOSE[@]}" down --volumes --rmi all >/dev/null 2>&1 || true
}

echo "== building the orchestrator and the static binaries"
cargo build --release --locked -p orchestrator
# The first `up` runs the build step (cargo) and records its stamp, so the
# timed runs measure the engine work and an unchanged build step is skipped.
"$BIN" -q -f "$STACK" up
reset_orchestrator

# docker-compose 1.29 honours only a `.dockerignore` at the context root, so
# it gets a staged context with exactly the files the Dockerfiles copy.
BENCH_CONTEXT=$(mktemp -d)
export BENCH_CONTEXT
trap 'rm -rf "$BENCH_CONTEXT"; reset_compose; reset_orchestrator' EXIT
for path in etl/Dockerfile api/Dockerfile etl/data-mountpoint.tar \
    target/x86_64-unknown-linux-gnu/release/etl target/x86_64-unknown-linux-gnu/release/api; do
  mkdir -p "$BENCH_CONTEXT/$(dirname "$path")"
  cp -p "$path" "$BENCH_CONTEXT/$path"
done
reset_compose

declare -a o_up o_noop o_down c_up c_noop c_down
for run in $(seq "$RUNS"); do
  echo "== run $run of $RUNS"
  t0=$(now); "$BIN" -q -f "$STACK" up; wait_for_200 18181; t1=$(now)
  "$BIN" -q -f "$STACK" up; t2=$(now)
  "$BIN" -q -f "$STACK" down; t3=$(now)
  o_up+=("$(elapsed "$t0" "$t1")"); o_noop+=("$(elapsed "$t1" "$t2")"); o_down+=("$(elapsed "$t2" "$t3")")
  if [ "$run" = 1 ]; then
    o_sizes=$(docker image inspect --format '{{index .RepoTags 0}} {{.Size}}' \
      bench-orchestrator-etl:latest bench-orchestrator-api:latest)
  fi
  reset_orchestrator

  t0=$(now); "${COMPOSE[@]}" up -d --quiet-pull >/dev/null 2>&1; wait_for_200 18182; t1=$(now)
  "${COMPOSE[@]}" up -d >/dev/null 2>&1; t2=$(now)
  "${COMPOSE[@]}" down >/dev/null 2>&1; t3=$(now)
  c_up+=("$(elapsed "$t0" "$t1")"); c_noop+=("$(elapsed "$t1" "$t2")"); c_down+=("$(elapsed "$t2" "$t3")")
  if [ "$run" = 1 ]; then
    c_sizes=$(docker image inspect --format '{{index .RepoTags 0}} {{.Size}}' \
      bench-compose-etl:latest bench-compose-api:latest)
  fi
  reset_compose
done

echo
echo "== medians of $RUNS runs, in seconds (orchestrator / docker-compose = ratio)"
for step in up noop down; do
  o_name="o_$step[@]"; c_name="c_$step[@]"
  o=$(median "${!o_name}"); c=$(median "${!c_name}")
  printf '%-5s orchestrator %6.3f  compose %6.3f  ratio %.2f\n' "$step" "$o" "$c" "$(echo "$o / $c" | bc -l)"
  echo "      orchestrator runs: ${!o_name}"
  echo "      compose runs:      ${!c_name}"
done
echo
echo "== image sizes in bytes"
echo "$o_sizes"
echo "$c_sizes"
