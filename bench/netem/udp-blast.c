// udp-blast: raw UDP source and sink, to measure the emulator's own ceiling (what it relays when
// nothing else limits the traffic) in the same run as the transports it carries.
//   udp-blast recv [--port 0] [--seconds 10] [--idle-ms 500]
//       binds 127.0.0.1, prints {"event":"ready","port":N}, counts datagrams from the first one
//       until --idle-ms without any (or --seconds), then prints {"event":"result",...}
//   udp-blast send --to PORT [--size 1472] [--seconds 2] [--rate 0 (bit/s, 0 = as fast as it can)]
//       sendmmsg batches of 64 datagrams; prints {"event":"result","sent_pkts":..,...}
// Build: cc -O2 -o udp-blast udp-blast.c (bench/netem/build.mjs does it).
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <signal.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BATCH 64

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}
static void die(const char *what) { fprintf(stderr, "udp-blast: %s: %s\n", what, strerror(errno)); exit(2); }

static int sock(int port) {
  int fd = socket(AF_INET, SOCK_DGRAM, 0), sz = 64 << 20;
  if (fd < 0) die("socket");
  if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &sz, sizeof sz)) setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof sz);
  if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &sz, sizeof sz)) setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof sz);
  struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
  if (bind(fd, (struct sockaddr *)&sa, sizeof sa)) die("bind");
  return fd;
}

int main(int argc, char **argv) {
  if (argc < 2 || (strcmp(argv[1], "send") && strcmp(argv[1], "recv"))) {
    fprintf(stderr, "usage: udp-blast send --to PORT [--size 1472] [--seconds 2] [--rate BIT/S]\n"
                    "       udp-blast recv [--port 0] [--seconds 10] [--idle-ms 500]\n");
    return 2;
  }
  int to = 0, port = 0, size = 1472;
  double secs = 0, rate = 0, idle_ms = 500;
  for (int i = 2; i + 1 < argc; i += 2) {
    if (!strcmp(argv[i], "--to")) to = atoi(argv[i + 1]);
    else if (!strcmp(argv[i], "--port")) port = atoi(argv[i + 1]);
    else if (!strcmp(argv[i], "--size")) size = atoi(argv[i + 1]);
    else if (!strcmp(argv[i], "--seconds")) secs = atof(argv[i + 1]);
    else if (!strcmp(argv[i], "--rate")) rate = atof(argv[i + 1]);
    else if (!strcmp(argv[i], "--idle-ms")) idle_ms = atof(argv[i + 1]);
    else { fprintf(stderr, "udp-blast: unknown option %s\n", argv[i]); return 2; }
  }
  prctl(PR_SET_PDEATHSIG, SIGTERM);
  static char buf[BATCH][65536];
  struct mmsghdr m[BATCH];
  struct iovec iov[BATCH];
  if (!strcmp(argv[1], "recv")) {
    if (!secs) secs = 10;
    int fd = sock(port);
    struct sockaddr_in sa;
    socklen_t l = sizeof sa;
    getsockname(fd, (struct sockaddr *)&sa, &l);
    printf("{\"event\":\"ready\",\"port\":%u}\n", ntohs(sa.sin_port));
    fflush(stdout);
    uint64_t pkts = 0, bytes = 0;
    double t0 = now_s(), first = 0, last = 0;
    for (;;) {
      struct pollfd p = { fd, POLLIN, 0 };
      double now = now_s();
      if (now - t0 > secs || (first && (now - last) * 1000 > idle_ms)) break;
      if (poll(&p, 1, 50) <= 0) continue;
      for (int i = 0; i < BATCH; i++) {
        iov[i] = (struct iovec){ buf[i], sizeof buf[i] };
        m[i].msg_hdr = (struct msghdr){ .msg_iov = &iov[i], .msg_iovlen = 1 };
      }
      int n = recvmmsg(fd, m, BATCH, MSG_DONTWAIT, NULL);
      if (n <= 0) continue;
      last = now_s();
      if (!first) first = last;
      pkts += n;
      for (int i = 0; i < n; i++) bytes += m[i].msg_len;
    }
    double span = last > first ? last - first : 0;
    printf("{\"event\":\"result\",\"pkts\":%llu,\"bytes\":%llu,\"secs\":%.4f,\"mbps\":%.2f}\n", (unsigned long long)pkts,
           (unsigned long long)bytes, span, span > 0 ? bytes * 8 / span / 1e6 : 0);
    return 0;
  }
  if (!to) { fprintf(stderr, "udp-blast send: --to PORT is required\n"); return 2; }
  if (!secs) secs = 2;
  if (size < 1 || size > 65507) { fprintf(stderr, "udp-blast: bad --size\n"); return 2; }
  int fd = sock(0);
  struct sockaddr_in dst = { .sin_family = AF_INET, .sin_port = htons(to), .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
  if (connect(fd, (struct sockaddr *)&dst, sizeof dst)) die("connect");
  memset(buf[0], 0x5a, size);
  for (int i = 0; i < BATCH; i++) {
    iov[i] = (struct iovec){ buf[0], size };
    m[i].msg_hdr = (struct msghdr){ .msg_iov = &iov[i], .msg_iovlen = 1 };
  }
  uint64_t sent = 0;
  double t0 = now_s(), end = t0 + secs;
  for (double now = t0; now < end; now = now_s()) {
    if (rate > 0) { // pace: never ahead of rate * elapsed
      double ahead = sent * size * 8.0 / rate - (now - t0);
      if (ahead > 0) { usleep(ahead * 1e6 > 1000 ? 1000 : (useconds_t)(ahead * 1e6) + 1); continue; }
    }
    int n = sendmmsg(fd, m, BATCH, 0);
    if (n > 0) sent += n;
    else if (errno != EAGAIN && errno != ENOBUFS && errno != ECONNREFUSED) die("sendmmsg");
  }
  double span = now_s() - t0;
  printf("{\"event\":\"result\",\"sent_pkts\":%llu,\"sent_bytes\":%llu,\"secs\":%.4f,\"mbps\":%.2f}\n",
         (unsigned long long)sent, (unsigned long long)sent * size, span, sent * size * 8 / span / 1e6);
  return 0;
}
