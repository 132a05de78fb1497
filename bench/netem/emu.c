// emu: a network emulator for loopback UDP, in C because a JavaScript relay cannot carry
// 1 Gbit/s. It relays datagrams between two loopback ports per "pair" and applies, per
// direction: random loss, Gilbert-Elliott burst loss, duplication, corruption, a rate limit with
// a bounded drop-tail queue (bytes or packets), then a one-way delay plus per-packet uniform
// jitter (which reorders, as on a real path with multiple queues). Decisions come from a seeded
// PRNG with one stream per direction and knob, so which packets are hit is reproducible.
//
//   client --> [A: listen socket] --fwd--> [B: upstream socket] --> target
//   client <-- [A]                <--rev-- [B]                  <-- target
//
// The client's address is learned from its first datagram on A (or set with --client). The
// target sends its replies to B's port, printed on the ready line: udx-native needs both ports
// before it can connect, so B has a stable port from the start (unlike a NAT's per-client one).
// Several pairs (one --target each) share one link per direction: their packets meet in the same
// rate-limited queue, which is how two flows compete for one bottleneck.
//
// GSO/GRO: the sockets never enable UDP_GRO, so when a sender uses UDP GSO the kernel splits the
// super-packet into its datagrams before they reach us; every datagram is a packet to the
// emulated link (loss, queue and delay per datagram, as a router would see it). We send one
// datagram per sendmmsg entry (no GSO), so what the receiver gets is what a real path delivers.
//
// Output: one JSON line {"event":"ready",...} on stdout once bound, one {"event":"stats",...}
// line on SIGUSR1 and at exit (SIGTERM/SIGINT, --duration, or the parent dying).
// Build: cc -O2 -o emu emu.c (bench/netem/build.mjs does it). Usage: emu --help.
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BATCH 64
#define MAX_PAIRS 8
#define MAX_DGRAM 65536
#define SLOT 2048 // packets up to this size come from a free list; larger ones are malloc'd

// ---- PRNG: xoshiro256** seeded by splitmix64 --------------------------------------------------
typedef struct { uint64_t s[4]; } rng_t;
static uint64_t splitmix(uint64_t *x) {
  uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}
static void rng_seed(rng_t *r, uint64_t seed, uint64_t stream) {
  uint64_t x = seed * 0x100000001b3ULL ^ (stream + 1) * 0xd6e8feb86659fd93ULL;
  for (int i = 0; i < 4; i++) r->s[i] = splitmix(&x);
}
static inline uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
static inline uint64_t rng_next(rng_t *r) {
  uint64_t *s = r->s, res = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
  s[2] ^= s[0]; s[3] ^= s[1]; s[1] ^= s[2]; s[0] ^= s[3]; s[2] ^= t; s[3] = rotl(s[3], 45);
  return res;
}
static inline double rng_unit(rng_t *r) { return (rng_next(r) >> 11) * (1.0 / 9007199254740992.0); }
static inline int chance(rng_t *r, double p) { return p > 0 && rng_unit(r) < p; }

// ---- configuration per direction --------------------------------------------------------------
typedef struct {
  double loss, dup, corrupt;
  double ge_p, ge_r, ge_loss_bad, ge_loss_good; // Gilbert-Elliott: good->bad, bad->good, loss in each
  uint64_t delay_ns, jitter_ns;
  double rate_bps;       // 0 = no rate limit
  uint64_t queue_bytes;  // drop-tail limit of the rate-limited queue (0 with queue_pkts: packets only)
  uint64_t queue_pkts;   // drop-tail limit in packets (0 = bytes only)
} dircfg_t;

typedef struct pkt {
  uint64_t release_ns, seq;
  uint32_t len;
  uint8_t pair;
  uint8_t *data;
} pkt_t;

enum { RNG_LOSS, RNG_GE, RNG_DUP, RNG_CORRUPT, RNG_JITTER, RNG_N };

typedef struct {
  const char *name;
  dircfg_t cfg;
  rng_t rng[RNG_N];
  int ge_bad;
  // link: virtual time at which the transmitter is free again; FIFO of (departure, len) for the
  // queue's occupancy (bytes and packets not yet serialised)
  uint64_t link_free_ns;
  uint64_t *fifo_dep; uint32_t *fifo_len; size_t fifo_cap, fifo_head, fifo_n;
  uint64_t q_bytes;
  // release heap (min by release_ns, then seq: FIFO among equal times)
  pkt_t **heap; size_t heap_n, heap_cap;
  uint64_t seq;
  uint64_t next_out_seq_max; // highest seq released so far (to count reordering)
  // counters
  uint64_t rx_pkts, rx_bytes, tx_pkts, tx_bytes, drop_loss, drop_burst, drop_queue, drop_mem,
      drop_no_peer, dup, corrupted, reordered, send_errors, send_eagain, kernel_drops, max_q_bytes,
      max_q_pkts, max_heap, late_n, late_sum_ns, late_max_ns, late_over_1ms, oversize;
} dir_t;

typedef struct {
  int a, b;                     // sockets: A faces the client, B faces the target
  struct sockaddr_in client, target;
  int client_known;
  uint16_t a_port, b_port;
  uint32_t a_drops, b_drops;    // kernel drops at each socket (SO_RXQ_OVFL, cumulative)
} pair_t;

static pair_t pairs[MAX_PAIRS];
static int npairs;
static dir_t dirs[2]; // 0 = fwd (client -> target), 1 = rev (target -> client)
static volatile sig_atomic_t want_stats, want_exit;
static uint64_t mem_limit = 256ull << 20, mem_used;
static uint8_t **free_slots; static size_t free_n, free_cap;
static uint64_t t_start_ns;

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

static void die(const char *what) { fprintf(stderr, "emu: %s: %s\n", what, strerror(errno)); exit(2); }
static void usage_die(const char *msg, const char *arg) { fprintf(stderr, "emu: %s%s%s (see --help)\n", msg, arg ? ": " : "", arg ? arg : ""); exit(2); }

// ---- packet memory ------------------------------------------------------------------------------
static uint8_t *buf_get(uint32_t len) {
  size_t sz = len > SLOT ? len : SLOT;
  if (mem_used + sz > mem_limit) return NULL;
  mem_used += sz;
  if (len <= SLOT && free_n) return free_slots[--free_n];
  uint8_t *p = malloc(sz);
  if (!p) die("malloc");
  return p;
}
static void buf_put(uint8_t *p, uint32_t len) {
  size_t sz = len > SLOT ? len : SLOT;
  mem_used -= sz;
  if (len > SLOT) { free(p); return; }
  if (free_n == free_cap) {
    free_cap = free_cap ? free_cap * 2 : 4096;
    free_slots = realloc(free_slots, free_cap * sizeof *free_slots);
    if (!free_slots) die("realloc");
  }
  free_slots[free_n++] = p;
}

// ---- heap -----------------------------------------------------------------------------------------
static inline int before(const pkt_t *x, const pkt_t *y) {
  return x->release_ns < y->release_ns || (x->release_ns == y->release_ns && x->seq < y->seq);
}
static void heap_push(dir_t *d, pkt_t *p) {
  if (d->heap_n == d->heap_cap) {
    d->heap_cap = d->heap_cap ? d->heap_cap * 2 : 1024;
    d->heap = realloc(d->heap, d->heap_cap * sizeof *d->heap);
    if (!d->heap) die("realloc");
  }
  size_t i = d->heap_n++;
  while (i) {
    size_t up = (i - 1) / 2;
    if (!before(p, d->heap[up])) break;
    d->heap[i] = d->heap[up];
    i = up;
  }
  d->heap[i] = p;
  if (d->heap_n > d->max_heap) d->max_heap = d->heap_n;
}
static pkt_t *heap_pop(dir_t *d) {
  pkt_t *top = d->heap[0], *last = d->heap[--d->heap_n];
  size_t i = 0, n = d->heap_n;
  for (;;) {
    size_t c = 2 * i + 1;
    if (c >= n) break;
    if (c + 1 < n && before(d->heap[c + 1], d->heap[c])) c++;
    if (!before(d->heap[c], last)) break;
    d->heap[i] = d->heap[c];
    i = c;
  }
  if (n) d->heap[i] = last;
  return top;
}

// ---- the link model ---------------------------------------------------------------------------------
// Retire queue entries whose serialisation finished by `now`.
static void fifo_drain(dir_t *d, uint64_t now) {
  while (d->fifo_n && d->fifo_dep[d->fifo_head] <= now) {
    d->q_bytes -= d->fifo_len[d->fifo_head];
    d->fifo_head = (d->fifo_head + 1) % d->fifo_cap;
    d->fifo_n--;
  }
}
static void fifo_push(dir_t *d, uint64_t dep, uint32_t len) {
  if (d->fifo_n == d->fifo_cap) { // grow, unwrapping the ring
    size_t cap = d->fifo_cap ? d->fifo_cap * 2 : 4096;
    uint64_t *nd = malloc(cap * sizeof *nd);
    uint32_t *nl = malloc(cap * sizeof *nl);
    if (!nd || !nl) die("malloc");
    for (size_t i = 0; i < d->fifo_n; i++) {
      nd[i] = d->fifo_dep[(d->fifo_head + i) % d->fifo_cap];
      nl[i] = d->fifo_len[(d->fifo_head + i) % d->fifo_cap];
    }
    free(d->fifo_dep); free(d->fifo_len);
    d->fifo_dep = nd; d->fifo_len = nl; d->fifo_cap = cap; d->fifo_head = 0;
  }
  d->fifo_dep[(d->fifo_head + d->fifo_n) % d->fifo_cap] = dep;
  d->fifo_len[(d->fifo_head + d->fifo_n) % d->fifo_cap] = len;
  d->fifo_n++;
  d->q_bytes += len;
  if (d->q_bytes > d->max_q_bytes) d->max_q_bytes = d->q_bytes;
  if (d->fifo_n > d->max_q_pkts) d->max_q_pkts = d->fifo_n;
}

// One copy of a datagram enters the link at `now`: queue (if rate-limited), then delay + jitter.
static void enqueue_copy(dir_t *d, int pair, const uint8_t *data, uint32_t len, uint64_t now) {
  const dircfg_t *c = &d->cfg;
  uint64_t dep = now;
  if (c->rate_bps > 0) {
    fifo_drain(d, now);
    if ((c->queue_bytes && d->q_bytes + len > c->queue_bytes) || (c->queue_pkts && d->fifo_n + 1 > c->queue_pkts)) {
      d->drop_queue++;
      return;
    }
    uint64_t start = d->link_free_ns > now ? d->link_free_ns : now;
    dep = start + (uint64_t)((double)len * 8e9 / c->rate_bps);
    d->link_free_ns = dep;
    fifo_push(d, dep, len);
  }
  uint8_t *buf = buf_get(len);
  if (!buf) { d->drop_mem++; return; }
  memcpy(buf, data, len);
  if (chance(&d->rng[RNG_CORRUPT], c->corrupt) && len) {
    uint64_t bit = rng_next(&d->rng[RNG_CORRUPT]) % ((uint64_t)len * 8);
    buf[bit / 8] ^= (uint8_t)(1u << (bit % 8));
    d->corrupted++;
  }
  pkt_t *p = malloc(sizeof *p);
  if (!p) die("malloc");
  p->len = len;
  p->data = buf;
  p->pair = (uint8_t)pair;
  p->seq = d->seq++;
  uint64_t jit = c->jitter_ns ? (uint64_t)(rng_unit(&d->rng[RNG_JITTER]) * (double)c->jitter_ns) : 0;
  p->release_ns = dep + c->delay_ns + jit;
  heap_push(d, p);
}

static void on_datagram(dir_t *d, int pair, const uint8_t *data, uint32_t len, uint64_t now) {
  const dircfg_t *c = &d->cfg;
  d->rx_pkts++;
  d->rx_bytes += len;
  // random loss and burst loss draw from their own streams every time, so changing one knob
  // leaves the other's decisions as they were
  int lost = chance(&d->rng[RNG_LOSS], c->loss);
  if (c->ge_p > 0) {
    rng_t *g = &d->rng[RNG_GE];
    if (d->ge_bad ? chance(g, c->ge_r) : chance(g, c->ge_p)) d->ge_bad = !d->ge_bad;
    double pl = d->ge_bad ? c->ge_loss_bad : c->ge_loss_good;
    if (chance(g, pl) && !lost) { d->drop_burst++; return; }
  }
  if (lost) { d->drop_loss++; return; }
  int copies = 1 + chance(&d->rng[RNG_DUP], c->dup);
  if (copies == 2) d->dup++;
  for (int i = 0; i < copies; i++) enqueue_copy(d, pair, data, len, now);
}

// ---- sockets ---------------------------------------------------------------------------------------
static int udp_socket(const char *host, uint16_t port, uint16_t *bound) {
  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) die("socket");
  int sz = 64 << 20, one = 1;
  // big buffers so bursts are queued by the emulated link, not dropped by the socket (FORCE needs
  // root; fall back to what rmem_max allows)
  if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &sz, sizeof sz)) setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof sz);
  if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &sz, sizeof sz)) setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof sz);
  setsockopt(fd, SOL_SOCKET, SO_RXQ_OVFL, &one, sizeof one); // kernel drops at our socket, reported per recvmsg
  struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(port) };
  if (inet_pton(AF_INET, host, &sa.sin_addr) != 1) usage_die("bad IPv4 address", host);
  if (bind(fd, (struct sockaddr *)&sa, sizeof sa)) die("bind");
  socklen_t l = sizeof sa;
  getsockname(fd, (struct sockaddr *)&sa, &l);
  *bound = ntohs(sa.sin_port);
  return fd;
}

static uint8_t rxbuf[BATCH][MAX_DGRAM];
static char rxctl[BATCH][CMSG_SPACE(sizeof(uint32_t))];

// Drain one socket (up to a few batches per wake so the other socket and the timers get a turn).
static void recv_side(int fd, dir_t *d, pair_t *p, int is_a, int pair_idx) {
  struct mmsghdr m[BATCH];
  struct iovec iov[BATCH];
  struct sockaddr_in from[BATCH];
  for (int round = 0; round < 8; round++) {
    for (int i = 0; i < BATCH; i++) {
      iov[i] = (struct iovec){ rxbuf[i], MAX_DGRAM };
      m[i].msg_hdr = (struct msghdr){ .msg_name = &from[i], .msg_namelen = sizeof from[i], .msg_iov = &iov[i],
                                       .msg_iovlen = 1, .msg_control = rxctl[i], .msg_controllen = sizeof rxctl[i] };
    }
    int n = recvmmsg(fd, m, BATCH, MSG_DONTWAIT, NULL);
    if (n <= 0) return;
    uint64_t now = now_ns();
    for (int i = 0; i < n; i++) {
      for (struct cmsghdr *c = CMSG_FIRSTHDR(&m[i].msg_hdr); c; c = CMSG_NXTHDR(&m[i].msg_hdr, c)) {
        if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SO_RXQ_OVFL) {
          uint32_t total; // cumulative count of this socket
          memcpy(&total, CMSG_DATA(c), sizeof total);
          uint32_t *mine = is_a ? &p->a_drops : &p->b_drops;
          if (total > *mine) { d->kernel_drops += total - *mine; *mine = total; }
        }
      }
      if (m[i].msg_hdr.msg_flags & MSG_TRUNC) { d->oversize++; continue; }
      if (is_a) {
        if (!p->client_known) { p->client = from[i]; p->client_known = 1; }
        else if (from[i].sin_port != p->client.sin_port || from[i].sin_addr.s_addr != p->client.sin_addr.s_addr) {
          d->drop_no_peer++; // a second client on one pair: not supported, counted
          continue;
        }
      } else if (from[i].sin_port != p->target.sin_port || from[i].sin_addr.s_addr != p->target.sin_addr.s_addr) {
        d->drop_no_peer++;
        continue;
      }
      on_datagram(d, pair_idx, rxbuf[i], m[i].msg_len, now);
    }
    if (n < BATCH) return;
  }
}

// Send everything due in one direction; consecutive packets for the same socket go in one sendmmsg.
// Returns 1 if the socket was full (EAGAIN), so the caller waits for POLLOUT.
static int release_due(dir_t *d, int dir_idx, uint64_t now) {
  pkt_t *batch[BATCH];
  struct mmsghdr m[BATCH];
  struct iovec iov[BATCH];
  while (d->heap_n && d->heap[0]->release_ns <= now) {
    int n = 0, pair = d->heap[0]->pair;
    while (n < BATCH && d->heap_n && d->heap[0]->release_ns <= now && d->heap[0]->pair == pair) batch[n++] = heap_pop(d);
    pair_t *p = &pairs[pair];
    int fd = dir_idx == 0 ? p->b : p->a;
    struct sockaddr_in *to = dir_idx == 0 ? &p->target : &p->client;
    if (dir_idx == 1 && !p->client_known) { // nobody to deliver to yet
      for (int i = 0; i < n; i++) { d->drop_no_peer++; buf_put(batch[i]->data, batch[i]->len); free(batch[i]); }
      continue;
    }
    for (int i = 0; i < n; i++) {
      iov[i] = (struct iovec){ batch[i]->data, batch[i]->len };
      m[i].msg_hdr = (struct msghdr){ .msg_name = to, .msg_namelen = sizeof *to, .msg_iov = &iov[i], .msg_iovlen = 1 };
    }
    int sent = 0;
    while (sent < n) {
      int r = sendmmsg(fd, m + sent, n - sent, MSG_DONTWAIT);
      if (r > 0) { sent += r; continue; }
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == ENOBUFS) break;
      d->send_errors++; // e.g. the peer's port closed: drop this one, carry on
      buf_put(batch[sent]->data, batch[sent]->len);
      free(batch[sent]);
      batch[sent] = NULL;
      sent++;
    }
    for (int i = 0; i < sent; i++) {
      pkt_t *k = batch[i];
      if (!k) continue;
      d->tx_pkts++;
      d->tx_bytes += k->len;
      if (k->seq < d->next_out_seq_max) d->reordered++;
      else d->next_out_seq_max = k->seq;
      uint64_t late = now > k->release_ns ? now - k->release_ns : 0;
      d->late_n++; d->late_sum_ns += late;
      if (late > d->late_max_ns) d->late_max_ns = late;
      if (late > 1000000) d->late_over_1ms++;
      buf_put(k->data, k->len);
      free(k);
    }
    if (sent < n) { // socket full: put the rest back (same release time and seq keep the order)
      d->send_eagain++;
      for (int i = sent; i < n; i++) heap_push(d, batch[i]);
      return 1;
    }
  }
  return 0;
}

// ---- stats -------------------------------------------------------------------------------------------
static void print_dir(FILE *f, const dir_t *d) {
  double late_mean_us = d->late_n ? (double)d->late_sum_ns / d->late_n / 1e3 : 0;
  fprintf(f,
          "\"%s\":{\"rx_pkts\":%llu,\"rx_bytes\":%llu,\"tx_pkts\":%llu,\"tx_bytes\":%llu,\"drop_loss\":%llu,"
          "\"drop_burst\":%llu,\"drop_queue\":%llu,\"drop_mem\":%llu,\"drop_no_peer\":%llu,\"dup\":%llu,"
          "\"corrupted\":%llu,\"reordered\":%llu,\"send_errors\":%llu,\"send_eagain\":%llu,\"kernel_drops\":%llu,"
          "\"oversize\":%llu,\"max_queue_bytes\":%llu,\"max_queue_pkts\":%llu,\"max_in_flight\":%llu,\"queued\":%zu,"
          "\"late_mean_us\":%.1f,\"late_max_us\":%.1f,\"late_over_1ms\":%llu}",
          d->name, (unsigned long long)d->rx_pkts, (unsigned long long)d->rx_bytes, (unsigned long long)d->tx_pkts,
          (unsigned long long)d->tx_bytes, (unsigned long long)d->drop_loss, (unsigned long long)d->drop_burst,
          (unsigned long long)d->drop_queue, (unsigned long long)d->drop_mem, (unsigned long long)d->drop_no_peer,
          (unsigned long long)d->dup, (unsigned long long)d->corrupted, (unsigned long long)d->reordered,
          (unsigned long long)d->send_errors, (unsigned long long)d->send_eagain, (unsigned long long)d->kernel_drops,
          (unsigned long long)d->oversize, (unsigned long long)d->max_q_bytes, (unsigned long long)d->max_q_pkts,
          (unsigned long long)d->max_heap, d->heap_n, late_mean_us, d->late_max_ns / 1e3,
          (unsigned long long)d->late_over_1ms);
}
static void print_stats(const char *why) {
  fprintf(stdout, "{\"event\":\"stats\",\"why\":\"%s\",\"secs\":%.3f,", why, (now_ns() - t_start_ns) / 1e9);
  print_dir(stdout, &dirs[0]);
  fputc(',', stdout);
  print_dir(stdout, &dirs[1]);
  fputs("}\n", stdout);
  fflush(stdout);
}
static void on_signal(int s) { if (s == SIGUSR1) want_stats = 1; else want_exit = 1; }

// ---- command line -------------------------------------------------------------------------------------
static double parse_num(const char *s, const char **rest) {
  char *e;
  double v = strtod(s, &e);
  if (e == s) usage_die("not a number", s);
  *rest = e;
  return v;
}
static uint64_t parse_time_ns(const char *s) { // 10ms, 500us, 1.5s, 2000ns; bare number = ms
  const char *u;
  double v = parse_num(s, &u);
  if (!*u || !strcmp(u, "ms")) return (uint64_t)(v * 1e6);
  if (!strcmp(u, "us")) return (uint64_t)(v * 1e3);
  if (!strcmp(u, "ns")) return (uint64_t)v;
  if (!strcmp(u, "s")) return (uint64_t)(v * 1e9);
  usage_die("bad time unit", s);
  return 0;
}
static double parse_prob(const char *s) { // 0.01 or 1%
  const char *u;
  double v = parse_num(s, &u);
  if (!strcmp(u, "%")) v /= 100;
  else if (*u) usage_die("bad probability", s);
  if (v < 0 || v > 1) usage_die("probability out of [0,1]", s);
  return v;
}
static double parse_rate(const char *s) { // 100mbit, 1gbit, 500kbit, bits/s when bare
  const char *u;
  double v = parse_num(s, &u);
  if (!*u || !strcasecmp(u, "bit")) return v;
  if (!strcasecmp(u, "kbit")) return v * 1e3;
  if (!strcasecmp(u, "mbit")) return v * 1e6;
  if (!strcasecmp(u, "gbit")) return v * 1e9;
  usage_die("bad rate unit (bit, kbit, mbit, gbit)", s);
  return 0;
}
static void parse_queue(const char *s, dircfg_t *c) { // 64k, 1m (bytes, decimal), 65536, 100p (packets)
  const char *u;
  double v = parse_num(s, &u);
  if (!strcmp(u, "p")) { c->queue_pkts = (uint64_t)v; c->queue_bytes = 0; return; }
  double mul = !*u ? 1 : !strcasecmp(u, "k") ? 1e3 : !strcasecmp(u, "m") ? 1e6 : !strcasecmp(u, "ki") ? 1024
             : !strcasecmp(u, "mi") ? 1048576 : -1;
  if (mul < 0) usage_die("bad queue size (bytes with k/m/Ki/Mi, or packets with p)", s);
  c->queue_bytes = (uint64_t)(v * mul);
  c->queue_pkts = 0;
}

static const char *HELP =
  "usage: emu --target PORT [--target PORT ...] [options]\n"
  "Relays UDP on 127.0.0.1 between a client and each target through an emulated link.\n"
  "  --target [HOST:]PORT  where the real receiver listens; one pair of relay sockets per --target\n"
  "  --listen PORT         client-facing port of the first pair (default 0 = any; later pairs: any)\n"
  "  --upstream PORT       target-facing port of the first pair (default 0 = any)\n"
  "  --client PORT         fix the client's port instead of learning it from its first datagram\n"
  "  --bind HOST           address to bind (default 127.0.0.1)\n"
  "  --seed N              PRNG seed (default 1)\n"
  "  --duration S          exit after S seconds (default: run until SIGTERM/SIGINT)\n"
  "  --mem BYTES           cap on buffered packet memory (default 256 MiB; over it: drop_mem)\n"
  "Link options apply to both directions; prefix with fwd- (client->target) or rev- for one:\n"
  "  --delay T             one-way delay (10ms, 500us; bare number = ms)\n"
  "  --jitter T            extra uniform delay in [0, T] per packet (reorders packets)\n"
  "  --loss P              random loss (0.01 or 1%)\n"
  "  --ge p,r[,h[,k]]      Gilbert-Elliott burst loss: P(good->bad)=p, P(bad->good)=r per packet,\n"
  "                        loss h in bad (default 1), k in good (default 0); mean burst 1/r packets\n"
  "  --dup P               duplication probability      --corrupt P  one flipped bit\n"
  "  --rate R              bottleneck rate (100mbit, 1gbit)\n"
  "  --queue Q             drop-tail queue in bytes (64k, 1.25m, 125000) or packets (100p);\n"
  "                        default with --rate: 100 ms at that rate\n"
  "Output (stdout, JSON lines): {\"event\":\"ready\",\"pairs\":[{listen,upstream,target}]};\n"
  "{\"event\":\"stats\",...} on SIGUSR1 and at exit, per direction (fwd, rev).\n";

static void set_opt(dircfg_t *c, const char *name, const char *v) {
  if (!strcmp(name, "delay")) c->delay_ns = parse_time_ns(v);
  else if (!strcmp(name, "jitter")) c->jitter_ns = parse_time_ns(v);
  else if (!strcmp(name, "loss")) c->loss = parse_prob(v);
  else if (!strcmp(name, "dup")) c->dup = parse_prob(v);
  else if (!strcmp(name, "corrupt")) c->corrupt = parse_prob(v);
  else if (!strcmp(name, "rate")) c->rate_bps = parse_rate(v);
  else if (!strcmp(name, "queue")) parse_queue(v, c);
  else if (!strcmp(name, "ge")) {
    double x[4] = { 0, 0, 1, 0 };
    char tmp[128];
    snprintf(tmp, sizeof tmp, "%s", v);
    int i = 0;
    for (char *t = strtok(tmp, ","); t && i < 4; t = strtok(NULL, ","), i++) x[i] = parse_prob(t);
    if (i < 2) usage_die("--ge needs p,r", v);
    c->ge_p = x[0]; c->ge_r = x[1]; c->ge_loss_bad = x[2]; c->ge_loss_good = x[3];
  } else usage_die("unknown option", name);
}

int main(int argc, char **argv) {
  const char *bind_host = "127.0.0.1";
  uint64_t seed = 1;
  double duration = 0;
  int listen_port = 0, upstream_port = 0, client_port = 0;
  const char *targets[MAX_PAIRS];
  int ntargets = 0;
  dirs[0].name = "fwd";
  dirs[1].name = "rev";
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (!strcmp(a, "--help") || !strcmp(a, "-h")) { fputs(HELP, stdout); return 0; }
    if (strncmp(a, "--", 2)) usage_die("unexpected argument", a);
    if (i + 1 >= argc) usage_die("missing value for", a);
    const char *v = argv[++i], *name = a + 2;
    if (!strcmp(name, "target")) { if (ntargets == MAX_PAIRS) usage_die("too many --target", v); targets[ntargets++] = v; }
    else if (!strcmp(name, "listen")) listen_port = atoi(v);
    else if (!strcmp(name, "upstream")) upstream_port = atoi(v);
    else if (!strcmp(name, "client")) client_port = atoi(v);
    else if (!strcmp(name, "bind")) bind_host = v;
    else if (!strcmp(name, "seed")) seed = strtoull(v, NULL, 0);
    else if (!strcmp(name, "duration")) duration = atof(v);
    else if (!strcmp(name, "mem")) { dircfg_t t = {0}; parse_queue(v, &t); mem_limit = t.queue_bytes; }
    else if (!strncmp(name, "fwd-", 4)) set_opt(&dirs[0].cfg, name + 4, v);
    else if (!strncmp(name, "rev-", 4)) set_opt(&dirs[1].cfg, name + 4, v);
    else { set_opt(&dirs[0].cfg, name, v); set_opt(&dirs[1].cfg, name, v); }
  }
  if (!ntargets) usage_die("--target is required", NULL);
  for (int d = 0; d < 2; d++) {
    dircfg_t *c = &dirs[d].cfg;
    if (c->rate_bps > 0 && !c->queue_bytes && !c->queue_pkts) c->queue_bytes = (uint64_t)(c->rate_bps / 8 * 0.1);
    for (int k = 0; k < RNG_N; k++) rng_seed(&dirs[d].rng[k], seed, (uint64_t)d * 16 + k);
  }

  prctl(PR_SET_PDEATHSIG, SIGTERM); // never outlive the benchmark that started us
  prctl(PR_SET_TIMERSLACK, 1000UL); // 1 µs timer slack: release times are in microseconds
  struct sigaction sa = { .sa_handler = on_signal };
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGUSR1, &sa, NULL);
  signal(SIGPIPE, SIG_IGN);
  // The signals stay blocked except inside ppoll(), which unblocks them atomically: a SIGTERM
  // that landed between the loop's want_exit check and an untimed ppoll() was otherwise lost,
  // and the emulator slept forever without printing its stats (a test waiting for them hung
  // for its whole timeout under a loaded suite run).
  sigset_t handled, in_poll;
  sigemptyset(&handled);
  sigaddset(&handled, SIGTERM);
  sigaddset(&handled, SIGINT);
  sigaddset(&handled, SIGUSR1);
  sigprocmask(SIG_BLOCK, &handled, &in_poll);

  for (int i = 0; i < ntargets; i++) {
    pair_t *p = &pairs[npairs++];
    char host[64] = "127.0.0.1";
    const char *colon = strrchr(targets[i], ':');
    int tport = atoi(colon ? colon + 1 : targets[i]);
    if (colon) snprintf(host, sizeof host, "%.*s", (int)(colon - targets[i]), targets[i]);
    if (tport <= 0 || tport > 65535) usage_die("bad --target port", targets[i]);
    p->target = (struct sockaddr_in){ .sin_family = AF_INET, .sin_port = htons(tport) };
    if (inet_pton(AF_INET, host, &p->target.sin_addr) != 1) usage_die("bad --target host", targets[i]);
    p->a = udp_socket(bind_host, i == 0 ? listen_port : 0, &p->a_port);
    p->b = udp_socket(bind_host, i == 0 ? upstream_port : 0, &p->b_port);
    if (client_port && i == 0) {
      p->client = (struct sockaddr_in){ .sin_family = AF_INET, .sin_port = htons(client_port) };
      inet_pton(AF_INET, bind_host, &p->client.sin_addr);
      p->client_known = 1;
    }
  }
  printf("{\"event\":\"ready\",\"pid\":%d,\"pairs\":[", getpid());
  for (int i = 0; i < npairs; i++)
    printf("%s{\"listen\":%u,\"upstream\":%u,\"target\":%u}", i ? "," : "", pairs[i].a_port, pairs[i].b_port, ntohs(pairs[i].target.sin_port));
  printf("]}\n");
  fflush(stdout);

  t_start_ns = now_ns();
  uint64_t end_ns = duration > 0 ? t_start_ns + (uint64_t)(duration * 1e9) : 0;
  int blocked[2] = { 0, 0 }; // a direction waits for POLLOUT after EAGAIN
  struct pollfd pfd[2 * MAX_PAIRS];
  while (!want_exit) {
    if (want_stats) { want_stats = 0; print_stats("signal"); }
    uint64_t now = now_ns();
    if (end_ns && now >= end_ns) break;
    for (int d = 0; d < 2; d++) if (!blocked[d]) blocked[d] = release_due(&dirs[d], d, now);
    // sleep until the next release (or a datagram arrives)
    int64_t wait_ns = -1;
    for (int d = 0; d < 2; d++) {
      if (dirs[d].heap_n && !blocked[d]) {
        int64_t w = (int64_t)(dirs[d].heap[0]->release_ns - now);
        if (w < 0) w = 0;
        if (wait_ns < 0 || w < wait_ns) wait_ns = w;
      }
    }
    if (blocked[0] || blocked[1]) wait_ns = wait_ns < 0 || wait_ns > 1000000 ? 1000000 : wait_ns;
    if (end_ns) { int64_t w = (int64_t)(end_ns - now); if (wait_ns < 0 || w < wait_ns) wait_ns = w; }
    for (int i = 0; i < npairs; i++) {
      pfd[2 * i] = (struct pollfd){ .fd = pairs[i].a, .events = POLLIN | (blocked[1] ? POLLOUT : 0) };
      pfd[2 * i + 1] = (struct pollfd){ .fd = pairs[i].b, .events = POLLIN | (blocked[0] ? POLLOUT : 0) };
    }
    struct timespec ts = { (time_t)(wait_ns / 1000000000), (long)(wait_ns % 1000000000) };
    int r = ppoll(pfd, 2 * npairs, wait_ns < 0 ? NULL : &ts, &in_poll);
    if (r < 0) { if (errno == EINTR) continue; die("ppoll"); }
    for (int i = 0; i < npairs; i++) {
      if (pfd[2 * i].revents & POLLOUT) blocked[1] = 0;
      if (pfd[2 * i + 1].revents & POLLOUT) blocked[0] = 0;
      if (pfd[2 * i].revents & POLLIN) recv_side(pairs[i].a, &dirs[0], &pairs[i], 1, i);
      if (pfd[2 * i + 1].revents & POLLIN) recv_side(pairs[i].b, &dirs[1], &pairs[i], 0, i);
    }
  }
  print_stats("exit");
  return 0;
}
