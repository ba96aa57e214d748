#!/usr/bin/env bash
# bench-peers.sh - run the workloads of benches/*.rs in libuv (C), Node.js and mio too, in
# paired rounds beside our own, and print the figures side by side
# (docs/PERFORMANCE-draft.md explains the table and how to read it).
#
# usage: scripts/bench-peers.sh [-r ROUNDS] [--quick] [WORKLOAD ...]
#   WORKLOAD   pingpong, timers, pool, accuracy (default: all four)
#   -r ROUNDS  paired rounds per workload (default 5; accuracy takes 10 s a run: at most 3)
#   --quick    small workloads, to check that everything runs (figures not comparable)
#
# Peers, each skipped with a message when its toolchain is missing (the exit status stays 0):
#   epoll (C)  the raw level-triggered epoll loop, the ping-pong baseline   needs gcc
#   libuv      uv_peers.c                        needs gcc and libuv1-dev (apt-get install libuv1-dev)
#   node       node_peers.js                     needs node
#   mio        peers/mio-pingpong (a crate of its own)  needs cargo and crates.io
# Our own figures come from the benchmark binaries' child modes (`cargo bench --no-run`
# builds them). Everything is built under ${CARGO_TARGET_DIR:-target}/peers.
#
# Method: each round runs every program once, in an order that rotates from round to
# round; a ratio is taken within a round and the table shows medians (the column `early`,
# a count of timers that fired before their time, is the total over all rounds). Machine
# load is printed before and after; run on a quiet machine for figures worth comparing.
set -uo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
PEERS="$ROOT/scripts/peers"
TARGET="${CARGO_TARGET_DIR:-$ROOT/target}"
OUT="$TARGET/peers"
ROUNDS=5
QUICK=0
WORKLOADS=()
while [ $# -gt 0 ]; do
  case "$1" in
    -r) ROUNDS="$2"; shift 2 ;;
    --quick) QUICK=1; shift ;;
    -h|--help) sed -n '2,22p' "$0"; exit 0 ;;
    pingpong|timers|pool|accuracy) WORKLOADS+=("$1"); shift ;;
    *) echo "bench-peers: unknown argument '$1' (see --help)"; exit 2 ;;
  esac
done
[ ${#WORKLOADS[@]} -gt 0 ] || WORKLOADS=(pingpong timers pool accuracy)
mkdir -p "$OUT"

if [ "$QUICK" = 1 ]; then
  TRIPS=20000; TIMERS=100000; JOBS=10000; ACC_N=100
else
  TRIPS=200000; TIMERS=1000000; JOBS=100000; ACC_N=1000
fi
SEED=42

note() { printf '%s\n' "$*"; }

# ---- build ---------------------------------------------------------------------------

note "building our benchmarks (cargo bench --no-run)..."
declare -A BENCH=()
while read -r name path; do BENCH[$name]="$path"; done < <(
  cd "$ROOT" && cargo bench --no-run 2>&1 |
    sed -n 's/.*Executable benches\/\([a-z_]*\)\.rs (\(.*\))$/\1 \2/p')
for b in pingpong timers threadpool timer_accuracy; do
  [ -n "${BENCH[$b]:-}" ] || { note "could not build benches/$b.rs; run 'cargo bench --no-run' to see why"; exit 1; }
done

HAVE_C=0; HAVE_UV=0; HAVE_NODE=0; HAVE_MIO=0
if command -v gcc >/dev/null 2>&1 &&
   gcc -O2 -o "$OUT/epoll_pingpong" "$PEERS/epoll_pingpong.c" 2>"$OUT/epoll_pingpong.log"; then
  HAVE_C=1
else
  note "peer 'epoll (C)' skipped: gcc is missing or failed ($OUT/epoll_pingpong.log)"
fi
if command -v gcc >/dev/null 2>&1 && [ -f /usr/include/uv.h ] &&
   gcc -O2 -o "$OUT/uv_peers" "$PEERS/uv_peers.c" -luv 2>"$OUT/uv_peers.log"; then
  HAVE_UV=1
  note "libuv $(pkg-config --modversion libuv 2>/dev/null || echo '(version unknown)')"
else
  note "peer 'libuv' skipped: needs gcc and libuv1-dev (apt-get install libuv1-dev)"
fi
NODE="${NODE:-node}"
if command -v "$NODE" >/dev/null 2>&1; then
  HAVE_NODE=1
  note "node $("$NODE" --version)"
else
  note "peer 'node' skipped: node is not installed"
fi
if [[ " ${WORKLOADS[*]} " == *" pingpong "* ]]; then
  if cargo build --release --quiet --manifest-path "$PEERS/mio-pingpong/Cargo.toml" \
       --target-dir "$OUT/mio" 2>"$OUT/mio.log"; then
    HAVE_MIO=1
    note "mio $(sed -n '/^name = "mio"/{n;s/version = "\(.*\)"/\1/p}' "$PEERS/mio-pingpong/Cargo.lock")"
  else
    note "peer 'mio' skipped: could not build peers/mio-pingpong (offline? see $OUT/mio.log)"
  fi
fi

# ---- paired rounds -------------------------------------------------------------------

# measure TITLE KEYS -- NAME CMD [NAME CMD ...]
# Runs every command once per round (rotating the order), each printing `key=value` lines,
# then prints, per command, the median of each key and the median per-round ratio of the
# first key to the first command's.
measure() {
  local title="$1" keys="$2"; shift 3
  local names=() cmds=()
  while [ $# -gt 0 ]; do names+=("$1"); cmds+=("$2"); shift 2; done
  local n=${#names[@]} raw="$OUT/raw.$$" r i k j
  : > "$raw"
  printf '\n== %s (load before: %s)\n' "$title" "$(cut -d' ' -f1-3 /proc/loadavg)"
  for ((r = 0; r < ROUNDS; r++)); do
    for ((k = 0; k < n; k++)); do
      j=$(( (k + r) % n ))
      if ! bash -c "${cmds[$j]}" 2>>"$OUT/errors.log" |
           sed -n "s/^\([a-z0-9_]*\)=\(.*\)$/$r $j \1 \2/p" >> "$raw"; then
        note "   (${names[$j]} failed in round $r; see $OUT/errors.log)"
      fi
    done
  done
  awk -v keys="$keys" -v names="$(IFS='|'; echo "${names[*]}")" '
    function median(arr, cnt,   a, i, t, m) {
      for (i = 1; i <= cnt; i++) a[i] = arr[i];
      for (i = 2; i <= cnt; i++) { t = a[i]; m = i - 1; while (m >= 1 && a[m] > t) { a[m + 1] = a[m]; m-- } a[m + 1] = t }
      return cnt == 0 ? "nan" : (cnt % 2 ? a[(cnt + 1) / 2] : (a[cnt / 2] + a[cnt / 2 + 1]) / 2)
    }
    { v[$1, $2, $3] = $4; seen[$2, $3] = 1; if ($1 + 1 > rounds) rounds = $1 + 1 }
    END {
      nk = split(keys, K, " "); nn = split(names, N, "|")
      printf "   %-24s", "program"
      for (x = 1; x <= nk; x++) printf " %14s", K[x]
      printf " %16s\n", "ratio (" K[1] ")"
      for (j = 0; j < nn; j++) {
        printf "   %-24s", N[j + 1]
        for (x = 1; x <= nk; x++) {
          c = 0; sum = 0; delete arr
          for (r = 0; r < rounds; r++) if ((r, j, K[x]) in v) { arr[++c] = v[r, j, K[x]]; sum += v[r, j, K[x]] }
          # A count of events (timers that fired early) is summed over the rounds.
          printf " %14.4g", K[x] == "early" ? sum : median(arr, c)
        }
        c = 0; delete arr
        for (r = 0; r < rounds; r++)
          if ((r, j, K[1]) in v && (r, 0, K[1]) in v && v[r, 0, K[1]] != 0) arr[++c] = v[r, j, K[1]] / v[r, 0, K[1]]
        printf " %16.3f\n", median(arr, c)
      }
    }' "$raw"
  printf '   (median of %d paired rounds; load after: %s)\n' "$ROUNDS" "$(cut -d' ' -f1-3 /proc/loadavg)"
  rm -f "$raw"
}

for w in "${WORKLOADS[@]}"; do
  args=()
  case "$w" in
    pingpong)
      [ "$HAVE_C" = 1 ] && args+=("epoll (C, baseline)" "'$OUT/epoll_pingpong' $TRIPS")
      [ "$HAVE_C" = 1 ] || note "no C baseline: ratios below are to our Rust raw-epoll loop"
      pp="'${BENCH[pingpong]}' --rounds 1 --trips $TRIPS --only"
      post="| sed -n 's/.* \\([0-9]*\\) round trips\\/s/round_trips_per_s=\\1/p'"
      args+=("epoll-lt (Rust, bench)" "$pp epoll-lt $post" "minimio" "$pp minimio $post")
      args+=("minimio-drain" "$pp minimio-drain $post")
      [ "$HAVE_MIO" = 1 ] && args+=("mio" "'$OUT/mio/release/mio-pingpong' $TRIPS" \
                                    "mio-drain" "'$OUT/mio/release/mio-pingpong' $TRIPS drain")
      [ "$HAVE_UV" = 1 ] && args+=("libuv" "'$OUT/uv_peers' pingpong $TRIPS")
      [ "$HAVE_NODE" = 1 ] && args+=("node" "'$NODE' '$PEERS/node_peers.js' pingpong $TRIPS")
      measure "ping-pong: $TRIPS round trips of 64 bytes, round trips/s" "round_trips_per_s" -- "${args[@]}"
      ;;
    timers)
      t="'${BENCH[timers]}' --child timers"
      args+=("runtime (ours)" "$t runtime $TIMERS $SEED spread" "heap (bench reference)" "$t heap $TIMERS $SEED spread")
      [ "$HAVE_UV" = 1 ] && args+=("libuv" "'$OUT/uv_peers' timers $TIMERS $SEED")
      [ "$HAVE_NODE" = 1 ] && args+=("node" "'$NODE' '$PEERS/node_peers.js' timers $TIMERS $SEED")
      measure "timers: $TIMERS timers, random 0..999 ms, until all fired" "wall_s rss_mib cpu_s set_ns" -- "${args[@]}"
      ;;
    pool)
      t="'${BENCH[threadpool]}' --child pool"
      args+=("runtime (ours)" "$t runtime $JOBS 4" "reference (bench)" "$t reference $JOBS 4")
      [ "$HAVE_UV" = 1 ] && args+=("libuv uv_queue_work" "'$OUT/uv_peers' pool $JOBS")
      [ "$HAVE_NODE" = 1 ] && args+=("node pbkdf2 (1 iter)" "'$NODE' '$PEERS/node_peers.js' pool $JOBS")
      measure "thread pool: $JOBS tiny jobs, results on the loop" "jobs_per_s cpu_s" -- "${args[@]}"
      ;;
    accuracy)
      saved=$ROUNDS; [ "$ROUNDS" -gt 3 ] && ROUNDS=3
      t="'${BENCH[timer_accuracy]}' --child accuracy"
      args+=("runtime (ours)" "$t runtime $ACC_N 10" "thread::sleep (floor)" "$t sleep $ACC_N 10")
      [ "$HAVE_UV" = 1 ] && args+=("libuv" "'$OUT/uv_peers' accuracy $ACC_N 10")
      [ "$HAVE_NODE" = 1 ] && args+=("node" "'$NODE' '$PEERS/node_peers.js' accuracy $ACC_N 10")
      measure "timer accuracy: $ACC_N timers of 10 ms in sequence, lateness in us" "p50_us p99_us min_us early cpu_ms" -- "${args[@]}"
      ROUNDS=$saved
      ;;
  esac
done
exit 0
