#!/usr/bin/env bash
# Runs bench/throughput.py for a baseline commit REF and for this checkout in
# one invocation, scenario by scenario and slot kind by slot kind, each REF
# run followed at once by this checkout's, so that machine noise hits both.
# Every run prints its medians and its ratio against the in-process baseline
# it measured itself; compare the REF and HEAD ratios of each scenario.
#
#     bench/compare.sh REF [throughput.py args, e.g. --repeat 5 --items 10000]
#
# REF is checked out into a temporary git worktree; its server is built in a
# copy of this checkout's target/release (so only the crate itself compiles,
# and this checkout's target/ is left as it is); its Python client runs from
# the worktree's client-python/ on PYTHONPATH with this checkout's .venv.
# This checkout runs as installed: .venv's client and
# .venv/bin/symbatcher-server (`make install`). The temporary directory and
# the worktree are removed on exit.
set -euo pipefail

ref=${1:?usage: bench/compare.sh REF [throughput.py args...]}
shift
root=$(git rev-parse --show-toplevel)
python="$root/.venv/bin/python"
head_server="$root/.venv/bin/symbatcher-server"
[ -x "$python" ] && [ -x "$head_server" ] || { echo "run \`make install\` first" >&2; exit 1; }

tmp=$(mktemp -d "${TMPDIR:-/tmp}/bench-compare-XXXXXX")
cleanup() {
    git -C "$root" worktree remove --force "$tmp/ref" >/dev/null 2>&1 || true
    rm -rf "$tmp"
}
trap cleanup EXIT

git -C "$root" worktree add --detach "$tmp/ref" "$ref" >/dev/null
echo "building $ref ($(git -C "$tmp/ref" rev-parse --short HEAD)) ..." >&2
mkdir -p "$tmp/target"
cp -a "$root/target/release" "$tmp/target/release"
cargo build --release --locked --quiet --manifest-path "$tmp/ref/Cargo.toml" --target-dir "$tmp/target"
install -m 755 "$tmp/target/release/symbatcher-server" "$tmp/ref-server"

run_ref() {
    SYMBATCHER_SERVER_BIN="$tmp/ref-server" \
        PYTHONPATH="$tmp/ref/client-python${PYTHONPATH:+:$PYTHONPATH}" \
        "$python" "$tmp/ref/bench/throughput.py" "$@"
}
run_head() {
    SYMBATCHER_SERVER_BIN="$head_server" "$python" "$root/bench/throughput.py" "$@"
}

echo "machine: $(nproc) cores, $(uname -sr); load average: $(cut -d' ' -f1-3 /proc/loadavg)"
for only in 1 2 3; do
    kinds="thread greenlet"
    [ "$only" = 2 ] && kinds="-"
    for kind in $kinds; do
        slots=()
        [ "$kind" != "-" ] && slots=(--slots "$kind")
        echo "=== $ref ==="
        run_ref --only "$only" "${slots[@]}" "$@"
        echo "=== HEAD ($(git -C "$root" rev-parse --short HEAD), with uncommitted changes if any) ==="
        run_head --only "$only" "${slots[@]}" "$@"
    done
done
