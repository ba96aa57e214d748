#!/usr/bin/env bash
# bench-syscalls.sh - count the system calls per round trip of each ping-pong variant of
# benches/pingpong.rs with `strace -c` (docs/PERFORMANCE-draft.md explains the counts).
#
# usage: scripts/bench-syscalls.sh [TRIPS]    (default 100000)
# Needs strace (apt-get install strace); without it, says so and exits 0. strace slows every
# syscall down a hundredfold, so the round-trip rates it prints mean nothing; the counts are
# exact. They include the warm-up round trips and the few dozen calls of start-up, which the
# division by the number of round trips makes negligible.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
TRIPS="${1:-100000}"
WARMUP=2000 # benches/pingpong.rs: WARMUP

if ! command -v strace >/dev/null 2>&1; then
  echo "bench-syscalls: strace is not installed (apt-get install strace); nothing counted."
  exit 0
fi
BIN=$(cd "$ROOT" && cargo bench --bench pingpong --no-run 2>&1 |
  sed -n 's/.*Executable benches\/pingpong\.rs (\(.*\))$/\1/p')
[ -x "$BIN" ] || { echo "bench-syscalls: could not build benches/pingpong.rs"; exit 1; }
TMP=$(mktemp)
trap 'rm -f "$TMP"' EXIT

printf 'system calls per round trip (%s round trips + %s warm-up, strace -c -f)\n' "$TRIPS" "$WARMUP"
printf '%-15s %10s %10s %10s %10s %12s %8s\n' variant epoll_wait epoll_ctl recvfrom sendto "(of which" total
printf '%-15s %10s %10s %10s %10s %12s %8s\n' "" "" "" "" "" "EAGAIN)" ""
for v in epoll-lt epoll-oneshot minimio minimio-drain; do
  strace -c -f -o "$TMP" "$BIN" --only "$v" --rounds 1 --trips "$TRIPS" >/dev/null
  # Rows: % time, seconds, usecs/call, calls, [errors], syscall. The name is the last
  # field, the call count the fourth, the error count the fifth when there are six.
  awk -v v="$v" -v n=$((TRIPS + WARMUP)) '
    $1 ~ /^[0-9.]+$/ && NF >= 5 {
      name = $NF; calls[name] = $4; if (NF == 6) errs[name] = $5
      if (name != "total") total += $4
    }
    END {
      printf "%-15s %10.2f %10.2f %10.2f %10.2f %12.2f %8.2f\n", v, calls["epoll_wait"] / n,
        calls["epoll_ctl"] / n, calls["recvfrom"] / n, calls["sendto"] / n,
        errs["recvfrom"] / n, total / n
    }' "$TMP"
done
