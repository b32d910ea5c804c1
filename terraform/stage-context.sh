#!/bin/sh
# Copies the build context of one image into its own directory, so that the
# docker provider, which only honours a .dockerignore at the root of a
# context, sends the same files the orchestrator sends.
#
# Usage: stage-context.sh SOURCE_DIR DOCKERFILE IGNORE_FILE DEST_DIR
#   SOURCE_DIR   context directory of the image in infra.toml (`context`)
#   DOCKERFILE   Dockerfile path relative to SOURCE_DIR (`dockerfile`)
#   IGNORE_FILE  ignore file path relative to SOURCE_DIR (`ignore_file`)
#   DEST_DIR     directory to create; it is emptied first
#
# The ignore file must be an allowlist: `*` first, then one `!path` line per
# file to send, with no wildcards. Any other pattern is rejected, because
# copying it faithfully would need Docker's full matching rules. The
# Dockerfile and the ignore file are always copied, as Docker always sends
# them.
set -eu

if [ "$#" -ne 4 ]; then
  echo "usage: $0 SOURCE_DIR DOCKERFILE IGNORE_FILE DEST_DIR" >&2
  exit 2
fi
source_dir=$1
dockerfile=$2
ignore_file=$3
dest_dir=$4

case "$dest_dir" in
  "" | / | "$source_dir" | "$source_dir/")
    echo "stage-context: invalid DEST_DIR '$dest_dir': it is emptied first, so pass a directory of its own" >&2
    exit 2
    ;;
esac

# Prints each path the ignore file lets through, one per line.
allowed_paths() {
  seen_star=no
  line_number=0
  while IFS= read -r line || [ -n "$line" ]; do
    line_number=$((line_number + 1))
    pattern=$(printf '%s' "$line" | sed -e 's/^[[:space:]]*//' -e 's/[[:space:]]*$//')
    case "$pattern" in
      "" | "#"*) continue ;;
    esac
    if [ "$seen_star" = no ]; then
      if [ "$pattern" != "*" ]; then
        echo "stage-context: $ignore_file:$line_number: expected '*' as the first pattern, found '$pattern'" >&2
        return 2
      fi
      seen_star=yes
      continue
    fi
    path=${pattern#!}
    path=${path#/}
    case "$pattern" in
      "!"*) ;;
      *)
        echo "stage-context: $ignore_file:$line_number: only '!path' lines may follow '*', found '$pattern'" >&2
        return 2
        ;;
    esac
    case "$path" in
      "" | *"*"* | *"?"* | *"["* | *".."*)
        echo "stage-context: $ignore_file:$line_number: '$pattern' must name one file inside the context, without wildcards or '..'" >&2
        return 2
        ;;
    esac
    printf '%s\n' "$path"
  done <"$source_dir/$ignore_file"
}

copy_into_context() {
  if [ ! -f "$source_dir/$1" ]; then
    echo "stage-context: $source_dir/$1 is missing. Run the build step that produces it, then apply again." >&2
    exit 1
  fi
  mkdir -p "$dest_dir/$(dirname "$1")"
  cp -p "$source_dir/$1" "$dest_dir/$1"
}

paths=$(allowed_paths)
rm -rf "$dest_dir"
mkdir -p "$dest_dir"
copy_into_context "$dockerfile"
copy_into_context "$ignore_file"
printf '%s\n' "$paths" | while IFS= read -r path; do
  if [ -n "$path" ]; then
    copy_into_context "$path"
  fi
done
echo "stage-context: staged $dockerfile context in $dest_dir"
