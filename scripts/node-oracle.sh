#!/usr/bin/env bash
# node-oracle.sh - run the oracle cases (tests/oracle/*.js) under real Node.js and check each
# run against its spec with Node's own checker (tests/oracle/check.js), so a reader can see
# that Node keeps the rules `cargo test` holds our runtime to (tests/node_oracle.rs).
#
# usage: scripts/node-oracle.sh [-n RUNS] [-s "SCALES"] [-o OUTDIR] [--rust] [case ...]
#   -n RUNS      runs per case and scale (default 3)
#   -s "SCALES"  space-separated delay scale factors (default "1 0.1")
#   -o OUTDIR    where run artefacts go (default: a new temporary directory)
#   --rust       also run OUR programs (examples/oracle_<case>.rs, and examples/javascript.rs
#                for book_main, at scale 1 only) and check them with check.js too. Build them
#                first: `cargo build --examples`. Their stdout is normalised as
#                tests/oracle_check/mod.rs does, and a panic's exit status 101 is recorded as
#                Node's 1 for an uncaught exception (the spec states Node's).
#   case ...     case names (default: every tests/oracle/<case>.js, that is every .js there but
#                _rt.js, check.js and server.js; a case without a .spec fails)
# Exit status: 0 if every run satisfied its spec (or node is not installed), 1 otherwise.
#
# Processes: starts one helper, tests/oracle/server.js (the slow HTTP server, on 127.0.0.1 at
# a free port), and stops it by its PID on exit. Every program run is bounded by `timeout`.
set -u
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
ORACLE="$ROOT/tests/oracle"
NODE="${NODE:-node}"
RUNS=3
SCALES="1 0.1"
OUT=""
RUST=0
CASES=()
while [ $# -gt 0 ]; do
  case "$1" in
    -n) RUNS="$2"; shift 2 ;;
    -s) SCALES="$2"; shift 2 ;;
    -o) OUT="$2"; shift 2 ;;
    --rust) RUST=1; shift ;;
    -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
    *) CASES+=("$1"); shift ;;
  esac
done
RUN_TIMEOUT="${RUN_TIMEOUT:-60}"

if ! command -v "$NODE" >/dev/null 2>&1; then
  echo "node-oracle: '$NODE' is not installed; nothing to compare with. (cargo test checks our"
  echo "runtime against the same specs without Node: tests/node_oracle.rs.)"
  exit 0
fi
if [ ${#CASES[@]} -eq 0 ]; then
  for f in "$ORACLE"/*.js; do
    b="$(basename "$f" .js)"
    case "$b" in _rt|check|server) continue ;; esac
    CASES+=("$b")
  done
fi
[ -n "$OUT" ] || OUT="$(mktemp -d "${TMPDIR:-/tmp}/node-oracle.XXXXXX")"
mkdir -p "$OUT"

SRV_PID=""
cleanup() { if [ -n "$SRV_PID" ]; then kill "$SRV_PID" 2>/dev/null; wait "$SRV_PID" 2>/dev/null; fi; }
trap cleanup EXIT
trap 'exit 130' INT TERM

# The slow HTTP server, in a process of its own so its timers never share the loop under test.
: > "$OUT/server.port"
ORACLE_PARENT_PID=$$ "$NODE" "$ORACLE/server.js" > "$OUT/server.port" 2> "$OUT/server.err" &
SRV_PID=$!
for _ in $(seq 1 100); do [ -s "$OUT/server.port" ] && break; sleep 0.1; done
HTTP_PORT="$(head -n1 "$OUT/server.port")"
[ -n "$HTTP_PORT" ] || { echo "node-oracle: server.js did not start"; exit 1; }
# A port where nothing listens: bind an ephemeral one, then release it.
DEAD_PORT="$("$NODE" -e 'const s=require("net").createServer();s.listen(0,"127.0.0.1",()=>{const p=s.address().port;s.close(()=>console.log(p))})')"
echo "node $("$NODE" --version); server.js pid $SRV_PID port $HTTP_PORT; dead port $DEAD_PORT"
echo "runs=$RUNS scales=[$SCALES]; artefacts in $OUT"

# Runs one of our programs the way tests/node_oracle.rs does: timestamps each stdout line as it
# arrives (ms since the child started), normalises it (drops "Thread: <name>\t ", folds a
# print_content block into "CONTENT - <DESCR>: <text>", drops empty lines), and writes the
# files check.js reads: out, err, rc, times.
cat > "$OUT/run-rust.js" <<'JS'
'use strict';
const { spawn } = require('child_process');
const fs = require('fs');
const path = require('path');
const [prog, dir] = process.argv.slice(2);
const t0 = process.hrtime.bigint();
const ms = () => Number(process.hrtime.bigint() - t0) / 1e6;
const child = spawn(prog, [], { stdio: ['ignore', 'pipe', 'pipe'] });
const raw = []; let pending = '';
child.stdout.setEncoding('utf8');
child.stdout.on('data', (chunk) => {
  const t = ms(); pending += chunk;
  let i; while ((i = pending.indexOf('\n')) >= 0) { raw.push([t, pending.slice(0, i).replace(/\r$/, '')]); pending = pending.slice(i + 1); }
});
let err = ''; child.stderr.setEncoding('utf8'); child.stderr.on('data', (c) => { err += c; });
child.on('close', (code, signal) => {
  const exitMs = ms();
  if (pending) raw.push([exitMs, pending]);
  const out = [];
  for (let k = 0; k < raw.length; k++) {
    const [t, line] = raw[k];
    if (line === '') continue;
    const h = /^===== THREAD (.*) START CONTENT - (.*) =====$/.exec(line);
    if (h) {
      const body = [];
      for (k++; k < raw.length && raw[k][1] !== '===== END CONTENT ====='; k++) body.push(raw[k][1]);
      out.push([t, `CONTENT - ${h[2]}: ${body.join('\n')}`]);
      continue;
    }
    const p = /^Thread: [^\t]*\t (.*)$/.exec(line);
    out.push([t, p ? p[1] : line]);
  }
  fs.writeFileSync(path.join(dir, 'out'), out.map(([, l]) => l + '\n').join(''));
  fs.writeFileSync(path.join(dir, 'times'), out.map(([t, l]) => `${t.toFixed(2)}\t${l}\n`).join('') + `${exitMs.toFixed(2)}\t@exit\n`);
  fs.writeFileSync(path.join(dir, 'err'), err);
  // Node's status for an uncaught exception is 1; a Rust panic's is 101.
  fs.writeFileSync(path.join(dir, 'rc'), `${code === 101 ? 1 : (code === null ? 128 : code)}\n`);
});
JS

# Our program for a case, or nothing if it is not built.
rust_program() {
  local bin="oracle_$1"
  [ "$1" = book_main ] && bin=javascript
  local p
  for p in "${CARGO_TARGET_DIR:-$ROOT/target}"/{debug,release}/examples/"$bin"; do
    [ -x "$p" ] && { echo "$p"; return; }
  done
}

TOTAL_FAIL=0
for c in "${CASES[@]}"; do
  js="$ORACLE/$c.js"; spec="$ORACLE/$c.spec"
  [ -f "$js" ] || { echo "no such case: $c"; TOTAL_FAIL=1; continue; }
  [ -f "$spec" ] || { echo "no spec for case $c ($spec)"; TOTAL_FAIL=1; continue; }
  for who in node rust; do
    [ "$who" = rust ] && [ "$RUST" -eq 0 ] && continue
    prog=""
    if [ "$who" = rust ]; then
      prog="$(rust_program "$c")"
      [ -n "$prog" ] || { echo "  $c: our program is not built (cargo build --examples)"; TOTAL_FAIL=1; continue; }
    fi
    for s in $SCALES; do
      # examples/javascript.rs has no scale knob: book_main runs at scale 1 only.
      if [ "$who" = rust ] && [ "$c" = book_main ] && [ "$s" != 1 ]; then continue; fi
      d="$OUT/$who/$c/s$s"; rm -rf "$d"; mkdir -p "$d"
      pass=0
      for i in $(seq 1 "$RUNS"); do
        r="$d/run-$i"; mkdir -p "$r"
        if [ "$who" = node ]; then
          ( cd "$ORACLE" && ORACLE_SCALE="$s" ORACLE_HTTP_PORT="$HTTP_PORT" ORACLE_DEAD_PORT="$DEAD_PORT" \
              ORACLE_TIMES="$r/times" timeout "$RUN_TIMEOUT" "$NODE" "$js" > "$r/out" 2> "$r/err" ); echo $? > "$r/rc"
        else
          # RUST_BACKTRACE=0: symbolising a panic's backtrace would delay the exit (as in
          # tests/node_oracle.rs).
          RUST_BACKTRACE=0 NODE_EXPERIMENT_SCALE="$s" timeout "$RUN_TIMEOUT" "$NODE" "$OUT/run-rust.js" "$prog" "$r"
        fi
        if "$NODE" "$ORACLE/check.js" check "$spec" "$r" "$s" > "$r/check"; then pass=$((pass+1)); else
          TOTAL_FAIL=1; echo "  $who $c scale=$s run $i FAILED:"; cat "$r/check"; fi
      done
      printf '%-5s %-24s scale=%-4s pass %2d/%d\n' "$who" "$c" "$s" "$pass" "$RUNS"
    done
  done
done
if [ "$TOTAL_FAIL" -eq 0 ]; then echo "ALL PASS"; else echo "SOME FAILURES"; fi
exit "$TOTAL_FAIL"
