/* uv_peers.c - the workloads of the benchmarks in benches/, written against libuv.
 *
 *   uv_peers pingpong TRIPS        round trips of 64 bytes over a loopback TCP pair, one loop
 *   uv_peers timers N SEED         N timers, SplitMix64(SEED) timeouts 0..999 ms, until all fired
 *   uv_peers pool JOBS             JOBS uv_queue_work jobs computing fib(1), results on the loop
 *   uv_peers accuracy N MS         N timers of MS ms in sequence, each started by the last
 *
 * Each prints `key=value` lines, as the benchmarks' child processes do. Built and run by
 * scripts/bench-peers.sh (needs libuv1-dev). The pool has libuv's default 4 threads
 * (UV_THREADPOOL_SIZE).
 */
#define _GNU_SOURCE
#include <assert.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <uv.h>

#define CHECK(expr)                                                        \
  do {                                                                     \
    int r_ = (expr);                                                       \
    if (r_ < 0) {                                                          \
      fprintf(stderr, "%s: %s\n", #expr, uv_strerror(r_));                 \
      exit(1);                                                             \
    }                                                                      \
  } while (0)

static double now_s(void) { return uv_hrtime() / 1e9; }

/* Peak RSS in MiB (VmHWM), as the Rust benchmarks read it. */
static double peak_rss_mib(void) {
  FILE *f = fopen("/proc/self/status", "r");
  char line[256];
  double kib = -1;
  while (f && fgets(line, sizeof line, f))
    if (sscanf(line, "VmHWM: %lf", &kib) == 1) break;
  if (f) fclose(f);
  return kib / 1024.0;
}

/* CPU time of every thread, to the nanosecond (as benches/util/mod.rs reads it). */
static double cpu_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* The benchmarks' SplitMix64, so the same seed gives the same timeouts. */
static uint64_t rng_state;
static uint64_t splitmix64(void) {
  uint64_t z = (rng_state += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

/* ---- ping-pong ---------------------------------------------------------------------- */

#define MSG 64
#define WARMUP 2000
static uv_loop_t *loop;
static uv_tcp_t listener, ends[2];
static size_t got[2];
static long trips, trips_done;
static double pp_start;
static char msg[MSG], rbuf[2][4096];

static void on_write(uv_write_t *req, int status) {
  CHECK(status);
  free(req);
}

static void send_msg(int side) {
  uv_write_t *req = malloc(sizeof *req);
  uv_buf_t b = uv_buf_init(msg, MSG);
  CHECK(uv_write(req, (uv_stream_t *)&ends[side], &b, 1, on_write));
}

static void on_alloc(uv_handle_t *h, size_t size, uv_buf_t *b) {
  (void)size;
  int side = h == (uv_handle_t *)&ends[1];
  *b = uv_buf_init(rbuf[side], sizeof rbuf[side]);
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b) {
  (void)b;
  int side = s == (uv_stream_t *)&ends[1];
  if (n < 0) {
    fprintf(stderr, "read: %s\n", uv_strerror((int)n));
    exit(1);
  }
  got[side] += n;
  if (got[side] < MSG) return;
  got[side] = 0;
  if (side == 0) {
    trips_done++;
    if (trips_done == WARMUP) pp_start = now_s();
    if (trips_done == WARMUP + trips) {
      printf("round_trips_per_s=%f\n", trips / (now_s() - pp_start));
      uv_close((uv_handle_t *)&ends[0], NULL);
      uv_close((uv_handle_t *)&ends[1], NULL);
      return;
    }
  }
  send_msg(side);
}

static void on_connection(uv_stream_t *l, int status) {
  CHECK(status);
  CHECK(uv_tcp_init(loop, &ends[1]));
  CHECK(uv_accept(l, (uv_stream_t *)&ends[1]));
  CHECK(uv_tcp_nodelay(&ends[1], 1));
  CHECK(uv_read_start((uv_stream_t *)&ends[1], on_alloc, on_read));
  uv_close((uv_handle_t *)l, NULL);
}

static void on_connect(uv_connect_t *req, int status) {
  CHECK(status);
  CHECK(uv_tcp_nodelay(&ends[0], 1));
  CHECK(uv_read_start(req->handle, on_alloc, on_read));
  send_msg(0);
}

static void pingpong(long n) {
  struct sockaddr_in addr;
  struct sockaddr_storage bound;
  int len = sizeof bound;
  static uv_connect_t conn;
  trips = n;
  memset(msg, 0x5a, MSG);
  CHECK(uv_ip4_addr("127.0.0.1", 0, &addr));
  CHECK(uv_tcp_init(loop, &listener));
  CHECK(uv_tcp_bind(&listener, (struct sockaddr *)&addr, 0));
  CHECK(uv_listen((uv_stream_t *)&listener, 1, on_connection));
  CHECK(uv_tcp_getsockname(&listener, (struct sockaddr *)&bound, &len));
  CHECK(uv_tcp_init(loop, &ends[0]));
  CHECK(uv_tcp_connect(&conn, &ends[0], (struct sockaddr *)&bound, on_connect));
  CHECK(uv_run(loop, UV_RUN_DEFAULT));
}

/* ---- timers ------------------------------------------------------------------------- */

static uint64_t fired, fired_sum, n_timers;
static double last_fire;

static void on_timer(uv_timer_t *t) {
  fired++;
  fired_sum += (uint64_t)(uintptr_t)t->data;
  if (fired == n_timers) last_fire = now_s();
}

static void timers(uint64_t n, uint64_t seed) {
  uv_timer_t *ts = calloc(n, sizeof *ts);
  n_timers = n;
  rng_state = seed;
  double rss0 = peak_rss_mib(), cpu0 = cpu_s();
  double start = now_s();
  for (uint64_t i = 0; i < n; i++) {
    CHECK(uv_timer_init(loop, &ts[i]));
    ts[i].data = (void *)(uintptr_t)i;
    CHECK(uv_timer_start(&ts[i], on_timer, splitmix64() % 1000, 0));
  }
  double set = now_s() - start;
  CHECK(uv_run(loop, UV_RUN_DEFAULT));
  assert(fired == n && fired_sum == n * (n - 1) / 2);
  printf("wall_s=%f\nset_ns=%f\ncpu_s=%f\nrss_mib=%f\nrss_start_mib=%f\n", last_fire - start,
         set * 1e9 / n, cpu_s() - cpu0, peak_rss_mib(), rss0);
}

/* ---- thread pool -------------------------------------------------------------------- */

static long jobs, jobs_done;
static double pool_last;

static long fib(long n) { return n < 2 ? n : fib(n - 1) + fib(n - 2); }

static void work(uv_work_t *req) { req->data = (void *)(intptr_t)fib((long)(intptr_t)req->data); }

static void after_work(uv_work_t *req, int status) {
  CHECK(status);
  assert((intptr_t)req->data == 1);
  if (++jobs_done == jobs) pool_last = now_s();
}

static void pool(long n) {
  uv_work_t *reqs = calloc(n, sizeof *reqs);
  jobs = n;
  double cpu0 = cpu_s();
  double start = now_s();
  for (long i = 0; i < n; i++) {
    reqs[i].data = (void *)(intptr_t)1;
    CHECK(uv_queue_work(loop, &reqs[i], work, after_work));
  }
  CHECK(uv_run(loop, UV_RUN_DEFAULT));
  printf("jobs_per_s=%f\nsecs=%f\ncpu_s=%f\n", n / (pool_last - start), pool_last - start,
         cpu_s() - cpu0);
}

/* ---- timer accuracy ----------------------------------------------------------------- */

static long acc_left, acc_n, acc_ms;
static double *late_us;
static uint64_t due_ns;
static uv_timer_t acc_timer;

static uint64_t mono_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

static void on_acc(uv_timer_t *t);

static void acc_arm(void) {
  due_ns = mono_ns() + acc_ms * 1000000ull;
  CHECK(uv_timer_start(&acc_timer, on_acc, acc_ms, 0));
}

static void on_acc(uv_timer_t *t) {
  (void)t;
  late_us[acc_n - acc_left] = ((double)mono_ns() - (double)due_ns) / 1e3;
  if (--acc_left > 0) acc_arm();
}

static int cmp(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

static double pct(double p) {
  long rank = (long)((p / 100.0) * acc_n + 0.999999);
  if (rank < 1) rank = 1;
  if (rank > acc_n) rank = acc_n;
  return late_us[rank - 1];
}

static void accuracy(long n, long ms) {
  acc_n = acc_left = n;
  acc_ms = ms;
  late_us = calloc(n, sizeof *late_us);
  double cpu0 = cpu_s();
  CHECK(uv_timer_init(loop, &acc_timer));
  acc_arm();
  CHECK(uv_run(loop, UV_RUN_DEFAULT));
  double cpu = cpu_s() - cpu0;
  long early = 0;
  for (long i = 0; i < n; i++) early += late_us[i] < 0;
  qsort(late_us, n, sizeof *late_us, cmp);
  printf("p50_us=%f\np90_us=%f\np99_us=%f\nmax_us=%f\nmin_us=%f\nearly=%ld\ncpu_ms=%f\n",
         pct(50), pct(90), pct(99), late_us[n - 1], late_us[0], early, cpu * 1e3);
}

int main(int argc, char **argv) {
  loop = uv_default_loop();
  if (argc >= 3 && !strcmp(argv[1], "pingpong")) {
    pingpong(atol(argv[2]));
  } else if (argc >= 4 && !strcmp(argv[1], "timers")) {
    timers(strtoull(argv[2], NULL, 10), strtoull(argv[3], NULL, 10));
  } else if (argc >= 3 && !strcmp(argv[1], "pool")) {
    pool(atol(argv[2]));
  } else if (argc >= 4 && !strcmp(argv[1], "accuracy")) {
    accuracy(atol(argv[2]), atol(argv[3]));
  } else {
    fprintf(stderr, "usage: uv_peers pingpong TRIPS | timers N SEED | pool JOBS | accuracy N MS\n");
    return 2;
  }
  return 0;
}
