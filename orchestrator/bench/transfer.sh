#!/usr/bin/env bash
# Times `orchestrator export --tar` and `orchestrator import` (which verifies
# the whole archive before loading it) next to `docker save` and
# `docker load` of the same images, in one hyperfine run each.
#
# Usage: orchestrator/bench/transfer.sh [STACK_FILE]
#   STACK_FILE  stack file whose images are timed (default: infra.toml at the
#               repository root). Its images must exist: run `up` first.
# Environment:
#   ORCHESTRATOR  the binary to time (default: target/release/orchestrator,
#                 built with `cargo build --release -p orchestrator`)
#   RUNS          hyperfine runs per command (default 10)
#
# Each load starts with the stack's images removed (hyperfine --prepare),
# so both tools load every layer. Stop the stack's containers first
# (`orchestrator down`): an image in use by a container cannot be removed.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
stack="${1:-$root/infra.toml}"
orchestrator="${ORCHESTRATOR:-$root/target/release/orchestrator}"
runs="${RUNS:-10}"

command -v hyperfine >/dev/null || { echo "hyperfine is missing: apt-get install hyperfine" >&2; exit 1; }
[ -x "$orchestrator" ] || { echo "$orchestrator not found: cargo build --release -p orchestrator" >&2; exit 1; }

tags=$(sed -n 's/^tag = "\(.*\)"$/\1/p' "$stack" | tr '\n' ' ')
[ -n "$tags" ] || { echo "no image tags found in $stack" >&2; exit 1; }
work=$(mktemp -d "${TMPDIR:-/tmp}/transfer-bench.XXXXXX")
trap 'rm -rf "$work"' EXIT

echo "== machine"
echo "$(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(uname -sr)"
docker version --format 'docker engine {{.Server.Version}} (API {{.Server.APIVersion}}), CLI {{.Client.Version}}'
echo "images: $tags"
docker image inspect --format '{{index .RepoTags 0}} {{.Size}} bytes' $tags

echo "== export"
hyperfine --runs "$runs" --warmup 1 --export-markdown "$work/export.md" \
  -n "orchestrator export --tar" "$orchestrator -q -f $stack export --tar $work/orchestrator.tar" \
  -n "docker save -o" "docker save -o $work/docker.tar $tags"
ls -l "$work"/*.tar

echo "== import (images removed before each run)"
remove="docker rmi -f $tags >/dev/null"
hyperfine --runs "$runs" --warmup 1 --export-markdown "$work/import.md" \
  --prepare "$remove" \
  -n "orchestrator import" "$orchestrator -q -f $stack import $work/orchestrator.tar" \
  -n "docker load -i" "docker load -q -i $work/docker.tar"

echo "== verification alone (import of a corrupt copy stops before the engine)"
cp "$work/orchestrator.tar" "$work/corrupt.tar"
printf 'x' | dd of="$work/corrupt.tar" bs=1 seek=$(( $(stat -c %s "$work/corrupt.tar") - 2048 )) conv=notrunc status=none
hyperfine --runs "$runs" -i \
  -n "orchestrator import (corrupt, verification only)" "$orchestrator -q -f $stack import $work/corrupt.tar"

# Leave the images loaded, as they were before the run.
"$orchestrator" -q -f "$stack" import "$work/orchestrator.tar" >/dev/null
cat "$work/export.md" "$work/import.md"
