// node_peers.js - the workloads of benches/*.rs, written for Node.js, for comparison.
//
//   node node_peers.js pingpong TRIPS     round trips of 64 bytes over a loopback TCP pair
//   node node_peers.js timers N SEED      N setTimeout, SplitMix64(SEED) timeouts 0..999 ms
//   node node_peers.js pool JOBS          JOBS crypto.pbkdf2 (1 iteration) on libuv's pool
//   node node_peers.js accuracy N MS      N timers of MS ms in sequence, each set by the last
//
// Each prints `key=value` lines, as the benchmarks' child processes do. Run by
// scripts/bench-peers.sh.
'use strict';
const net = require('net');
const crypto = require('crypto');
const fs = require('fs');
const { performance } = require('perf_hooks');

const now = () => performance.now() / 1e3; // seconds, sub-microsecond resolution

function peakRssMib() {
  const m = /VmHWM:\s+(\d+)/.exec(fs.readFileSync('/proc/self/status', 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}

// process.cpuUsage() is getrusage(2): the same sum the other programs read with
// clock_gettime(CLOCK_PROCESS_CPUTIME_ID), in microseconds.
function cpuSeconds() {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
}

// The benchmarks' SplitMix64, with BigInt, so the same seed gives the same timeouts.
function splitmix64(seed) {
  let state = BigInt(seed);
  const M = (1n << 64n) - 1n;
  return () => {
    state = (state + 0x9e3779b97f4a7c15n) & M;
    let z = state;
    z = ((z ^ (z >> 30n)) * 0xbf58476d1ce4e5b9n) & M;
    z = ((z ^ (z >> 27n)) * 0x94d049bb133111ebn) & M;
    return z ^ (z >> 31n);
  };
}

const out = (k, v) => console.log(`${k}=${v}`);

function pingpong(trips) {
  const MSG = 64, WARMUP = 2000;
  const msg = Buffer.alloc(MSG, 0x5a);
  let done = 0, start = 0;
  const server = net.createServer((peer) => {
    peer.setNoDelay(true);
    let got = 0;
    peer.on('data', (d) => {
      got += d.length;
      if (got >= MSG) { got -= MSG; peer.write(msg); }
    });
    server.close();
  });
  server.listen(0, '127.0.0.1', () => {
    const client = net.connect(server.address().port, '127.0.0.1', () => {
      client.setNoDelay(true);
      let got = 0;
      client.on('data', (d) => {
        got += d.length;
        if (got < MSG) return;
        got -= MSG;
        done++;
        if (done === WARMUP) start = now();
        if (done === WARMUP + trips) {
          out('round_trips_per_s', trips / (now() - start));
          client.destroy();
          return;
        }
        client.write(msg);
      });
      client.write(msg);
    });
  });
}

function timers(n, seed) {
  const next = splitmix64(seed);
  let fired = 0, sum = 0, last = 0;
  const rss0 = peakRssMib(), cpu0 = cpuSeconds();
  const start = now();
  for (let i = 0; i < n; i++) {
    setTimeout(() => {
      fired++;
      sum += i;
      if (fired === n) last = now();
    }, Number(next() % 1000n));
  }
  const set = now() - start;
  process.on('exit', () => {
    if (fired !== n || sum !== (n * (n - 1)) / 2) throw new Error('a timer did not fire once');
    out('wall_s', last - start);
    out('set_ns', (set * 1e9) / n);
    out('cpu_s', cpuSeconds() - cpu0);
    out('rss_mib', peakRssMib());
    out('rss_start_mib', rss0);
  });
}

function pool(jobs) {
  let done = 0;
  const cpu0 = cpuSeconds();
  const start = now();
  for (let i = 0; i < jobs; i++) {
    crypto.pbkdf2('secret', 'salt', 1, 32, 'sha256', (err) => {
      if (err) throw err;
      if (++done === jobs) {
        const secs = now() - start;
        out('jobs_per_s', jobs / secs);
        out('secs', secs);
        out('cpu_s', cpuSeconds() - cpu0);
      }
    });
  }
}

function accuracy(n, ms) {
  const late = [];
  const cpu0 = cpuSeconds();
  const arm = () => {
    const due = performance.now() + ms;
    setTimeout(() => {
      late.push((performance.now() - due) * 1e3);
      if (late.length < n) arm();
      else report();
    }, ms);
  };
  const report = () => {
    const cpu = cpuSeconds() - cpu0;
    const early = late.filter((l) => l < 0).length;
    late.sort((a, b) => a - b);
    const pct = (p) => late[Math.min(late.length, Math.max(1, Math.ceil((p / 100) * late.length))) - 1];
    out('p50_us', pct(50));
    out('p90_us', pct(90));
    out('p99_us', pct(99));
    out('max_us', late[late.length - 1]);
    out('min_us', late[0]);
    out('early', early);
    out('cpu_ms', cpu * 1e3);
  };
  arm();
}

const [mode, a, b] = process.argv.slice(2);
switch (mode) {
  case 'pingpong': pingpong(Number(a)); break;
  case 'timers': timers(Number(a), Number(b)); break;
  case 'pool': pool(Number(a)); break;
  case 'accuracy': accuracy(Number(a), Number(b)); break;
  default:
    console.error('usage: node node_peers.js pingpong TRIPS | timers N SEED | pool JOBS | accuracy N MS');
    process.exit(2);
}
