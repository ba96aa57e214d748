/* epoll_pingpong.c - the raw-epoll baseline of benches/pingpong.rs, in C.
 *
 * Round trips of a 64-byte message over one loopback TCP connection whose two ends live in
 * this process, registered level-triggered with one epoll instance and driven by one
 * thread: epoll_wait, read once (a short read means the queue is empty), answer. 6 syscalls
 * per round trip. Prints `round_trips_per_s=...`.
 *
 * Built and run by scripts/bench-peers.sh:  epoll_pingpong [TRIPS]
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MSG 64
#define WARMUP 2000

static void die(const char *what) { perror(what); exit(1); }

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int ends[2];
static size_t got[2];
static long trips_left;
static char buf[4096], msg[MSG];

static void send_msg(int side) {
  if (send(ends[side], msg, MSG, MSG_NOSIGNAL) != MSG) die("send");
}

/* Returns 0 when side 0 has received the last answer of the run. */
static int serve(int side) {
  ssize_t n = recv(ends[side], buf, sizeof buf, 0);
  if (n == 0) { fprintf(stderr, "unexpected EOF\n"); exit(1); }
  if (n < 0) {
    if (errno == EAGAIN || errno == EINTR) return 1;
    die("recv");
  }
  got[side] += n;
  if (got[side] < MSG) return 1;
  got[side] = 0;
  if (side == 0 && --trips_left == 0) return 0;
  send_msg(side);
  return 1;
}

static void run(int ep, long trips) {
  struct epoll_event evs[16];
  trips_left = trips;
  send_msg(0);
  for (;;) {
    int n = epoll_wait(ep, evs, 16, -1);
    if (n < 0) { if (errno == EINTR) continue; die("epoll_wait"); }
    for (int i = 0; i < n; i++)
      if (!serve((int)evs[i].data.u64)) return;
  }
}

int main(int argc, char **argv) {
  long trips = argc > 1 ? atol(argv[1]) : 200000;
  struct sockaddr_in addr = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  socklen_t len = sizeof addr;
  int one = 1;
  int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (l < 0 || bind(l, (struct sockaddr *)&addr, sizeof addr) || listen(l, 1) ||
      getsockname(l, (struct sockaddr *)&addr, &len))
    die("listen");
  ends[0] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (connect(ends[0], (struct sockaddr *)&addr, sizeof addr)) die("connect");
  ends[1] = accept4(l, NULL, NULL, SOCK_CLOEXEC);
  if (ends[1] < 0) die("accept");
  close(l);
  int ep = epoll_create1(EPOLL_CLOEXEC);
  for (int s = 0; s < 2; s++) {
    setsockopt(ends[s], IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    int fl = 1;
    if (ioctl(ends[s], FIONBIO, &fl)) die("FIONBIO");
    struct epoll_event ev = {.events = EPOLLIN, .data.u64 = (uint64_t)s};
    if (epoll_ctl(ep, EPOLL_CTL_ADD, ends[s], &ev)) die("epoll_ctl");
  }
  memset(msg, 0x5a, MSG);
  run(ep, WARMUP);
  double t0 = now_s();
  run(ep, trips);
  printf("round_trips_per_s=%f\n", trips / (now_s() - t0));
  return 0;
}
