#!/usr/bin/env bash
# Run the example programs in a fixed order.
#   usage: scripts/demo.sh <build-dir>
# Order comes from examples/DEMO_ORDER (one stem per line, '#' comments and
# blank lines allowed). Without that file every executable in
# <build-dir>/examples is run in sorted order. Fails if any example fails.
set -euo pipefail

if (($# != 1)); then
  echo "usage: $0 <build-dir>" >&2
  exit 2
fi

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build_dir="$(cd "$1" && pwd)"
bin_dir="$build_dir/examples"
order_file="$repo_root/examples/DEMO_ORDER"

names=()
if [[ -f "$order_file" ]]; then
  while IFS= read -r line || [[ -n "$line" ]]; do
    line="${line%%#*}"                        # strip comments
    line="${line#"${line%%[![:space:]]*}"}"   # trim leading whitespace
    line="${line%"${line##*[![:space:]]}"}"   # trim trailing whitespace
    [[ -n "$line" ]] && names+=("$line")
  done <"$order_file"
elif [[ -d "$bin_dir" ]]; then
  while IFS= read -r -d '' f; do
    names+=("$(basename "$f")")
  done < <(find "$bin_dir" -maxdepth 1 -type f -perm -u+x -print0 | sort -z)
fi

if ((${#names[@]} == 0)); then
  echo "demo: no examples to run (looked in $bin_dir)"
  exit 0
fi

failed=()
for name in "${names[@]}"; do
  echo "=== $name ==="
  exe="$bin_dir/$name"
  if [[ ! -x "$exe" ]]; then
    echo "demo: $exe not found or not executable" >&2
    failed+=("$name")
    continue
  fi
  rc=0
  (cd "$repo_root" && "$exe") || rc=$?
  if ((rc != 0)); then
    echo "demo: $name exited with status $rc" >&2
    failed+=("$name")
  fi
  echo
done

if ((${#failed[@]} != 0)); then
  echo "demo: FAILED: ${failed[*]}" >&2
  exit 1
fi
echo "demo: all ${#names[@]} examples succeeded"
