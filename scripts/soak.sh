#!/usr/bin/env bash
# soak.sh -- run the reliability soak (tests/reliability_soak.rs) for longer than `cargo test`
# does: runtimes one after another, each mixing timers, cleared timers, intervals,
# immediates, next ticks, pool jobs and HTTP requests whose callbacks schedule more work,
# beside a minimio ping-pong over 32 loopback pairs; every callback must run exactly once.
#
# usage: scripts/soak.sh [SECONDS]      (default 60)
#   NODE_EXPERIMENT_SEED=<n|0xhex>      replay a seed (the test prints the one it used)
#   CARGO_TARGET_DIR, CARGO flags       as for any cargo command
# Exit status: that of `cargo test` (0: nothing lost, nothing hung).
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-60}
case "$secs" in ''|*[!0-9]*) echo "usage: $0 [SECONDS]" >&2; exit 2 ;; esac
echo "soak: ${secs} s${NODE_EXPERIMENT_SEED:+, seed $NODE_EXPERIMENT_SEED}"
# Bounded: the soak itself stops scheduling after SECONDS; a hang is cut off well after.
NODE_EXPERIMENT_SOAK_SECS="$secs" timeout --kill-after=10 $((secs * 2 + 300)) \
    cargo test --test reliability_soak -- --nocapture
