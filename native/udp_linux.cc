// Linux syscall layer of the UDP socket: recvmmsg/sendmmsg, UDP_SEGMENT (GSO), UDP_GRO and
// IP_PKTINFO/IPV6_PKTINFO. No N-API, no libuv (udp_socket.cc drives it from uv_poll).
//
// Receive flow per round (bounded: one recvmmsg of at most kMaxMsgs datagrams):
//   1. one iovec per slot of the TS slab, one sockaddr + control buffer per slot (built once and
//      kept: RecvHeaders);
//   2. recvmmsg(MSG_DONTWAIT) (or recvmsg one by one under DEBUG_NO_MMSG);
//   3. per message: drop if MSG_TRUNC, read UDP_GRO (segment size) and PKTINFO (local address),
//      then write one metadata entry per segment: offset, length, 48-byte address record.
// Send flow (bounded by count; stops at EAGAIN). SendBatch sends every datagram to one
// destination record, SendMulti each to its own (one record per datagram: the handshake
// answers of a receive batch, one per flooding address, leave in one sendmmsg):
//   1. group consecutive datagrams into GSO super-datagrams (SendBatch only): equal sizes, the
//      last may be shorter, at most kMaxGsoSegments and the UDP payload limit; one iovec per
//      datagram, so nothing is copied even when the datagrams are not contiguous in the slab;
//   2. sendmmsg the groups (each message its msg_name; one UDP_SEGMENT cmsg per group, plus
//      PKTINFO when bound to a wildcard);
//   3. EINVAL/EIO on a GSO message switches GSO off for good and resends that part without it;
//      another error skips the failing message (counted; EMSGSIZE separately, as DF is always
//      set: see SetDontFragment), EAGAIN stops and reports progress. A destination record the
//      socket cannot use (another family, port 0) is skipped before the kernel sees it and
//      counted (BAD_DEST): port 0 would fail with EINVAL, which on a GSO message would switch GSO
//      off for every peer of the socket. SendMulti never groups: its datagrams answer unvalidated
//      addresses, and one whose send fails with EINVAL (e.g. a link-local source the record has no
//      scope for) must not switch GSO off for every peer; handshake answers gain nothing from GSO.
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

#include "common.h"
#include "udp_socket.h"

#ifndef SOL_UDP
#define SOL_UDP 17
#endif
#ifndef UDP_SEGMENT
#define UDP_SEGMENT 103
#endif
#ifndef UDP_GRO
#define UDP_GRO 104
#endif

namespace stt {
namespace {

// Room for UDP_SEGMENT (u16) or UDP_GRO (int) plus an in6_pktinfo, each CMSG-aligned.
constexpr size_t kCtrlSize = CMSG_SPACE(sizeof(int)) + CMSG_SPACE(sizeof(in6_pktinfo)) + 16;
// iovecs per sendmmsg call: enough for kMaxMsgs messages of several segments each.
constexpr uint32_t kMaxIov = 1024;

struct alignas(cmsghdr) CtrlBuf {
  uint8_t bytes[kCtrlSize];
};

void SetBuffer(int fd, int force_opt, int opt, int bytes) {
  if (bytes <= 0) return;
  // SO_*BUFFORCE may exceed net.core.[rw]mem_max but needs CAP_NET_ADMIN; fall back quietly.
  if (setsockopt(fd, SOL_SOCKET, force_opt, &bytes, sizeof bytes) == 0) return;
  setsockopt(fd, SOL_SOCKET, opt, &bytes, sizeof bytes);
}

int GetIntOpt(int fd, int level, int opt) {
  int v = 0;
  socklen_t l = sizeof v;
  return getsockopt(fd, level, opt, &v, &l) == 0 ? v : 0;
}

bool IsWildcard(int family, const uint8_t* addr) {
  const size_t n = family == 6 ? 16 : 4;
  for (size_t i = 0; i < n; i++)
    if (addr[i] != 0) return false;
  return true;
}

// DF on every datagram and no local fragmentation, with the kernel's cached path MTU ignored
// (PMTUDISC_PROBE rather than _DO): the protocol runs its own search (DPLPMTUD, RFC 8899;
// src/protocol/pmtu.ts) and must see a probe above the path MTU lost rather than fragmented or
// refused because of a stale ICMP-learned value. Linux's default for UDP, PMTUDISC_WANT,
// fragments locally anything above the cached PMTU, so an oversized probe could even "succeed".
// A datagram above the local interface MTU still fails with EMSGSIZE (counted, see SendBatch).
bool SetDontFragment(int fd, int family) {
  if (family == 6) {
    const int probe = IPV6_PMTUDISC_PROBE, one = 1;
    const bool ok = setsockopt(fd, IPPROTO_IPV6, IPV6_MTU_DISCOVER, &probe, sizeof probe) == 0;
    // IPV6_DONTFRAG: EMSGSIZE instead of local fragmentation, also for sockets of other kernels'
    // PROBE semantics; harmless when PROBE already implies it.
    return setsockopt(fd, IPPROTO_IPV6, IPV6_DONTFRAG, &one, sizeof one) == 0 && ok;
  }
  const int probe = IP_PMTUDISC_PROBE;
  return setsockopt(fd, IPPROTO_IP, IP_MTU_DISCOVER, &probe, sizeof probe) == 0;
}


uint8_t* RecBytes(uint32_t* rec, uint32_t index) { return reinterpret_cast<uint8_t*>(rec + index); }
const uint8_t* RecBytes(const uint32_t* rec, uint32_t index) { return reinterpret_cast<const uint8_t*>(rec + index); }

// Fills the remote part of an address record from a received sockaddr and the local part from
// the control messages; returns the UDP_GRO segment size (0 when the kernel did not coalesce).
int ParseMessage(const msghdr& mh, uint32_t* rec) {
  std::memset(rec, 0, ADDR_STRIDE * sizeof(uint32_t));
  const auto* ss = static_cast<const sockaddr_storage*>(mh.msg_name);
  if (ss->ss_family == AF_INET6) {
    const auto* a = reinterpret_cast<const sockaddr_in6*>(ss);
    rec[ADDR_FAMILY] = 6;
    rec[ADDR_PORT] = ntohs(a->sin6_port);
    std::memcpy(RecBytes(rec, ADDR_REMOTE), &a->sin6_addr, 16);
  } else {
    const auto* a = reinterpret_cast<const sockaddr_in*>(ss);
    rec[ADDR_FAMILY] = 4;
    rec[ADDR_PORT] = ntohs(a->sin_port);
    std::memcpy(RecBytes(rec, ADDR_REMOTE), &a->sin_addr, 4);
  }
  int gso_size = 0;
  for (cmsghdr* c = CMSG_FIRSTHDR(&mh); c != nullptr; c = CMSG_NXTHDR(const_cast<msghdr*>(&mh), c)) {
    if (c->cmsg_level == SOL_UDP && c->cmsg_type == UDP_GRO) {
      std::memcpy(&gso_size, CMSG_DATA(c), sizeof gso_size);
    } else if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_PKTINFO) {
      in_pktinfo pi;
      std::memcpy(&pi, CMSG_DATA(c), sizeof pi);
      // ipi_spec_dst: the local address the kernel would answer from (wireguard-go does the same).
      std::memcpy(RecBytes(rec, ADDR_LOCAL), &pi.ipi_spec_dst, 4);
      rec[ADDR_IFINDEX] = static_cast<uint32_t>(pi.ipi_ifindex);
      rec[ADDR_FLAGS] |= ADDR_FLAG_LOCAL;
    } else if (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_PKTINFO) {
      in6_pktinfo pi;
      std::memcpy(&pi, CMSG_DATA(c), sizeof pi);
      std::memcpy(RecBytes(rec, ADDR_LOCAL), &pi.ipi6_addr, 16);
      rec[ADDR_IFINDEX] = pi.ipi6_ifindex;
      rec[ADDR_FLAGS] |= ADDR_FLAG_LOCAL;
    }
  }
  return gso_size;
}

// Appends the source-address cmsg for a reply; returns the bytes used.
size_t PutPktinfo(uint8_t* at, size_t room, int family, const uint32_t* dest) {
  msghdr fake{};
  fake.msg_control = at;
  fake.msg_controllen = room;
  cmsghdr* c = CMSG_FIRSTHDR(&fake);
  if (family == 6) {
    in6_pktinfo pi{};
    std::memcpy(&pi.ipi6_addr, RecBytes(dest, ADDR_LOCAL), 16);
    pi.ipi6_ifindex = dest[ADDR_IFINDEX];  // needed for link-local sources
    c->cmsg_level = IPPROTO_IPV6;
    c->cmsg_type = IPV6_PKTINFO;
    c->cmsg_len = CMSG_LEN(sizeof pi);
    std::memcpy(CMSG_DATA(c), &pi, sizeof pi);
    return CMSG_SPACE(sizeof pi);
  }
  in_pktinfo pi{};
  std::memcpy(&pi.ipi_spec_dst, RecBytes(dest, ADDR_LOCAL), 4);  // ifindex 0: route by source address
  c->cmsg_level = IPPROTO_IP;
  c->cmsg_type = IP_PKTINFO;
  c->cmsg_len = CMSG_LEN(sizeof pi);
  std::memcpy(CMSG_DATA(c), &pi, sizeof pi);
  return CMSG_SPACE(sizeof pi);
}

size_t PutSegment(uint8_t* at, size_t room, uint16_t seg) {
  msghdr fake{};
  fake.msg_control = at;
  fake.msg_controllen = room;
  cmsghdr* c = CMSG_FIRSTHDR(&fake);
  c->cmsg_level = SOL_UDP;
  c->cmsg_type = UDP_SEGMENT;
  c->cmsg_len = CMSG_LEN(sizeof seg);
  std::memcpy(CMSG_DATA(c), &seg, sizeof seg);
  return CMSG_SPACE(sizeof seg);
}

}  // namespace

socklen_t FillSockaddr(int family, const uint8_t* addr, uint16_t port, sockaddr_storage* ss) {
  std::memset(ss, 0, sizeof *ss);
  if (family == 6) {
    auto* a = reinterpret_cast<sockaddr_in6*>(ss);
    a->sin6_family = AF_INET6;
    a->sin6_port = htons(port);
    std::memcpy(&a->sin6_addr, addr, 16);
    return sizeof *a;
  }
  auto* a = reinterpret_cast<sockaddr_in*>(ss);
  a->sin_family = AF_INET;
  a->sin_port = htons(port);
  std::memcpy(&a->sin_addr, addr, 4);
  return sizeof *a;
}

OpenResult UdpCore::Open(int family, const uint8_t* addr, uint16_t port, int recv_buffer, int send_buffer,
                         bool want_gso, bool want_gro, uint32_t debug_flags, int adopt_fd) {
  OpenResult r;
  STT_ASSERT(fd_ < 0 && (family == 4 || family == 6));
  family_ = family;
  debug_ = debug_flags;
  const int one = 1, zero = 0;
  int fd = -1;
  uint8_t bound_addr[16] = {0};
  if (adopt_fd >= 0) {
    fd = fcntl(adopt_fd, F_DUPFD_CLOEXEC, 0);
    if (fd < 0) {
      r.err = errno;
      return r;
    }
    sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    int type = 0;
    socklen_t tl = sizeof type;
    if (getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &sl) != 0 ||
        ss.ss_family != (family == 6 ? AF_INET6 : AF_INET) ||
        getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &tl) != 0 || type != SOCK_DGRAM) {
      r.err = EINVAL;
      ::close(fd);
      return r;
    }
    if (family == 6)
      std::memcpy(bound_addr, &reinterpret_cast<sockaddr_in6*>(&ss)->sin6_addr, 16);
    else
      std::memcpy(bound_addr, &reinterpret_cast<sockaddr_in*>(&ss)->sin_addr, 4);
    addr = bound_addr;
    SetBuffer(fd, SO_RCVBUFFORCE, SO_RCVBUF, recv_buffer);
    SetBuffer(fd, SO_SNDBUFFORCE, SO_SNDBUF, send_buffer);
  } else {
    fd = socket(family == 6 ? AF_INET6 : AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_UDP);
    if (fd < 0) {
      r.err = errno;
      return r;
    }
    // IPv6 sockets carry IPv6 only: a dual-stack socket would hand IPv4 peers over as
    // ::ffff:a.b.c.d, a second spelling of the same peer for PeerAddress keys.
    if (family == 6) setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
    SetBuffer(fd, SO_RCVBUFFORCE, SO_RCVBUF, recv_buffer);
    SetBuffer(fd, SO_SNDBUFFORCE, SO_SNDBUF, send_buffer);
    sockaddr_storage ss;
    socklen_t sl = FillSockaddr(family, addr, port, &ss);
    if (bind(fd, reinterpret_cast<sockaddr*>(&ss), sl) < 0) {
      r.err = errno;
      ::close(fd);
      return r;
    }
  }
  fd_ = fd;
  caps_ = 0;
  wildcard_ = IsWildcard(family, addr);
  if (wildcard_) {
    const bool ok = family == 6 ? setsockopt(fd, IPPROTO_IPV6, IPV6_RECVPKTINFO, &one, sizeof one) == 0
                                : setsockopt(fd, IPPROTO_IP, IP_PKTINFO, &one, sizeof one) == 0;
    if (ok) caps_ |= CAP_PKTINFO;
  }
  // Probes: setting the per-socket default segment size to 0 is harmless and fails with
  // ENOPROTOOPT on kernels without UDP GSO (< 4.18); UDP_GRO needs >= 5.0.
  if (want_gso && !(debug_flags & DEBUG_NO_GSO) && setsockopt(fd, SOL_UDP, UDP_SEGMENT, &zero, sizeof zero) == 0)
    caps_ |= CAP_GSO;
  if (want_gro && !(debug_flags & DEBUG_NO_GRO) && setsockopt(fd, SOL_UDP, UDP_GRO, &one, sizeof one) == 0)
    caps_ |= CAP_GRO;
  if (!(debug_flags & DEBUG_NO_MMSG)) caps_ |= CAP_MMSG;
  if (SetDontFragment(fd, family)) caps_ |= CAP_DONTFRAG;
  fail_next_gso_ = (debug_flags & DEBUG_GSO_EINVAL) != 0;
  sockaddr_storage bound;
  socklen_t bl = sizeof bound;
  getsockname(fd, reinterpret_cast<sockaddr*>(&bound), &bl);
  r.port = ntohs(family == 6 ? reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port
                             : reinterpret_cast<sockaddr_in*>(&bound)->sin_port);
  r.recv_buffer = GetIntOpt(fd, SOL_SOCKET, SO_RCVBUF);
  r.send_buffer = GetIntOpt(fd, SOL_SOCKET, SO_SNDBUF);
  return r;
}

void UdpCore::Close() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
  caps_ = 0;
}

// The message headers of one receive round: an iovec per slot of the TS slab, a sockaddr and a
// control buffer per slot. Built once per receive target and kept (~18 KB per socket) instead of
// on the stack: building all kMaxMsgs headers every round cost ~1,500 instructions per received
// datagram in a 64-byte ping-pong, where a round usually returns one datagram (callgrind,
// issue 13). After a round only the headers the kernel wrote are reset (Reset).
struct UdpCore::RecvHeaders {
  mmsghdr msgs[kMaxMsgs];
  iovec iov[kMaxMsgs];
  sockaddr_storage names[kMaxMsgs];
  CtrlBuf ctrl[kMaxMsgs];
  // What they were built for: a new slab (setReceiveBuffers) rebuilds them.
  uint8_t* slab = nullptr;
  uint32_t slot_size = 0;
  uint32_t built = 0;

  // Entry i as the kernel expects it: recvmsg writes back msg_namelen, msg_controllen,
  // msg_flags and msg_len of the messages it filled.
  void Reset(uint32_t i) {
    msghdr& mh = msgs[i].msg_hdr;
    mh = msghdr{};
    mh.msg_name = &names[i];
    mh.msg_namelen = sizeof names[i];
    mh.msg_iov = &iov[i];
    mh.msg_iovlen = 1;
    mh.msg_control = ctrl[i].bytes;
    mh.msg_controllen = sizeof ctrl[i].bytes;
    msgs[i].msg_len = 0;
  }
};

UdpCore::UdpCore() = default;
UdpCore::~UdpCore() { Close(); }

UdpCore::RecvHeaders& UdpCore::HeadersFor(const RecvTarget& t, uint32_t want) {
  if (!recv_headers_) recv_headers_ = std::make_unique<RecvHeaders>();
  RecvHeaders& h = *recv_headers_;
  if (h.slab != t.slab || h.slot_size != t.slot_size) {
    h.slab = t.slab;
    h.slot_size = t.slot_size;
    h.built = 0;
  }
  for (; h.built < want; h.built++) {
    h.iov[h.built].iov_base = t.slab + static_cast<size_t>(h.built) * t.slot_size;
    h.iov[h.built].iov_len = t.slot_size;
    h.Reset(h.built);
  }
  return h;
}

uint32_t UdpCore::RecvRound(const RecvTarget& t, double* stats, bool* more) {
  *more = false;
  STT_ASSERT(fd_ >= 0 && t.slot_size > 0 && t.capacity > 0);
  const uint32_t slots = static_cast<uint32_t>(std::min<size_t>(t.slab_len / t.slot_size, kMaxMsgs));
  STT_ASSERT(slots > 0);
  const uint32_t per_msg = (caps_ & CAP_GRO) ? kMaxGroSegments : 1;
  const uint32_t want = std::min(slots, std::max<uint32_t>(1, t.capacity / per_msg));

  RecvHeaders& h = HeadersFor(t, want);
  mmsghdr* msgs = h.msgs;

  int n = 0;
  int err = 0;
  if (caps_ & CAP_MMSG) {
    n = recvmmsg(fd_, msgs, want, MSG_DONTWAIT, nullptr);
    stats[STAT_RECV_SYSCALLS] += 1;
    if (n < 0) err = errno;
  } else {
    for (uint32_t i = 0; i < want; i++) {
      ssize_t r = recvmsg(fd_, &msgs[i].msg_hdr, MSG_DONTWAIT);
      stats[STAT_RECV_SYSCALLS] += 1;
      if (r < 0) {
        err = errno;
        break;
      }
      msgs[i].msg_len = static_cast<unsigned>(r);
      n++;
    }
  }
  // The kernel wrote back the headers of the messages it filled (and at most looked at the
  // next one): those are reset once read, the rest are still as built.
  const uint32_t touched = std::min(want, static_cast<uint32_t>(std::max(n, 0)) + 1);
  if (n <= 0) {
    if (err != 0 && err != EAGAIN && err != EWOULDBLOCK && err != EINTR) stats[STAT_RECV_ERRORS] += 1;
    for (uint32_t i = 0; i < touched; i++) h.Reset(i);
    return 0;
  }
  *more = static_cast<uint32_t>(n) == want;

  uint32_t entries = 0;
  uint32_t rec[ADDR_STRIDE];
  for (int i = 0; i < n; i++) {
    const msghdr& mh = msgs[i].msg_hdr;
    if (mh.msg_flags & MSG_TRUNC) {  // larger than a slot: never deliver a cut datagram
      stats[STAT_DROPPED_TRUNCATED] += 1;
      continue;
    }
    const uint32_t len = msgs[i].msg_len;
    const int gso = ParseMessage(mh, rec);
    const uint32_t seg = gso > 0 && static_cast<uint32_t>(gso) < len ? static_cast<uint32_t>(gso) : len;
    const uint32_t nseg = seg == 0 ? 1 : (len + seg - 1) / seg;
    if (nseg > 1) stats[STAT_GRO_SUPER_DATAGRAMS] += 1;
    const uint32_t base = static_cast<uint32_t>(i) * t.slot_size;
    for (uint32_t s = 0; s < nseg; s++) {
      if (entries == t.capacity) {
        stats[STAT_DROPPED_META_FULL] += nseg - s;
        break;
      }
      const uint32_t l = std::min(seg, len - s * seg);
      t.offsets[entries] = base + s * seg;
      t.lengths[entries] = l;
      std::memcpy(t.addrs + static_cast<size_t>(entries) * ADDR_STRIDE, rec, sizeof rec);
      entries++;
      stats[STAT_PACKETS_RECEIVED] += 1;
      stats[STAT_BYTES_RECEIVED] += l;
    }
  }
  for (uint32_t i = 0; i < touched; i++) h.Reset(i);
  return entries;
}

uint32_t UdpCore::SendBatch(const uint8_t* slab, size_t slab_len, const uint32_t* offsets, const uint32_t* lengths,
                            uint32_t count, const uint32_t* dest, double* stats, int32_t* result) {
  return SendDatagrams(slab, slab_len, offsets, lengths, count, dest, 0, stats, result);
}

uint32_t UdpCore::SendMulti(const uint8_t* slab, size_t slab_len, const uint32_t* offsets, const uint32_t* lengths,
                            uint32_t count, const uint32_t* dests, double* stats, int32_t* result) {
  return SendDatagrams(slab, slab_len, offsets, lengths, count, dests, ADDR_STRIDE, stats, result);
}

bool UdpCore::UsableDest(const uint32_t* dest) const {
  return static_cast<int>(dest[ADDR_FAMILY]) == family_ && dest[ADDR_PORT] != 0 && dest[ADDR_PORT] <= 0xffff;
}

uint32_t UdpCore::SendDatagrams(const uint8_t* slab, size_t slab_len, const uint32_t* offsets, const uint32_t* lengths,
                                uint32_t count, const uint32_t* dests, uint32_t dest_stride, double* stats,
                                int32_t* result) {
  std::memset(result, 0, SEND_RESULT_COUNT * sizeof(int32_t));
  STT_ASSERT(fd_ >= 0);
  const uint32_t max_payload = family_ == 6 ? 65527 : 65507;
  const auto dest_of = [dests, dest_stride](uint32_t j) { return dests + static_cast<size_t>(j) * dest_stride; };
  const bool multi = dest_stride != 0;

  mmsghdr msgs[kMaxMsgs];
  iovec iov[kMaxIov];
  CtrlBuf ctrl[kMaxMsgs];
  // One destination: names[0] is built once and every message points at it. A destination per
  // datagram: message m's own names[m].
  sockaddr_storage names[kMaxMsgs];
  socklen_t shared_name_len = 0;
  if (!multi && count > 0 && UsableDest(dests))
    shared_name_len = FillSockaddr(family_, RecBytes(dests, ADDR_REMOTE), static_cast<uint16_t>(dests[ADDR_PORT]), &names[0]);
  uint32_t dgrams[kMaxMsgs];
  double bytes[kMaxMsgs];
  bool used_gso[kMaxMsgs];

  uint32_t i = 0;
  int interrupted = 0;
  while (i < count) {
    // 0. A destination the socket cannot use: skip and count that datagram, never abort.
    const uint32_t* first_dest = dest_of(i);
    if (!UsableDest(first_dest)) {
      const int e = static_cast<int>(first_dest[ADDR_FAMILY]) != family_ ? EAFNOSUPPORT : EINVAL;
      result[SEND_BAD_DEST] += 1;
      result[SEND_ERRORS] += 1;
      result[SEND_LAST_ERRNO] = e;
      stats[STAT_SEND_BAD_DEST] += 1;
      stats[STAT_SEND_ERRORS] += 1;
      i++;
      continue;
    }
    // 1. Build up to kMaxMsgs messages starting at datagram i.
    const bool gso = !multi && (caps_ & CAP_GSO) != 0;  // SendMulti never groups: see the header
    const uint32_t msg_limit = (debug_ & DEBUG_SEND_EAGAIN) ? 1 : kMaxMsgs;
    uint32_t m = 0, used_iov = 0, j = i;
    while (j < count && m < msg_limit && used_iov < kMaxIov) {
      const uint32_t* dest = dest_of(j);
      // An unusable destination after the first message: send what precedes it, then step 0.
      if (multi && j > i && !UsableDest(dest)) break;
      const uint32_t seg = lengths[j];
      const uint32_t iov_start = used_iov;
      uint32_t nseg = 0, total = 0;
      for (;;) {
        STT_ASSERT(static_cast<uint64_t>(offsets[j]) + lengths[j] <= slab_len);
        iov[used_iov].iov_base = const_cast<uint8_t*>(slab + offsets[j]);
        iov[used_iov].iov_len = lengths[j];
        used_iov++;
        nseg++;
        total += lengths[j];
        j++;
        // A shorter segment can only be the last one of a GSO group.
        if (!gso || seg == 0 || lengths[j - 1] < seg) break;
        if (j >= count || used_iov >= kMaxIov || nseg >= kMaxGsoSegments) break;
        const uint32_t next = lengths[j];
        if (next == 0 || next > seg || total + next > max_payload) break;
        // One GSO group, one destination: the whole record (remote and local address) must match.
        if (multi && std::memcmp(dest_of(j), dest, ADDR_STRIDE * sizeof(uint32_t)) != 0) break;
      }
      msghdr& mh = msgs[m].msg_hdr;
      mh = msghdr{};
      if (multi) {
        mh.msg_name = &names[m];
        mh.msg_namelen = FillSockaddr(family_, RecBytes(dest, ADDR_REMOTE), static_cast<uint16_t>(dest[ADDR_PORT]), &names[m]);
      } else {
        mh.msg_name = &names[0];
        mh.msg_namelen = shared_name_len;
      }
      mh.msg_iov = &iov[iov_start];
      mh.msg_iovlen = nseg;
      size_t clen = 0;
      if (nseg > 1) clen += PutSegment(ctrl[m].bytes, sizeof ctrl[m].bytes, static_cast<uint16_t>(seg));
      if (wildcard_ && (caps_ & CAP_PKTINFO) && (dest[ADDR_FLAGS] & ADDR_FLAG_LOCAL))
        clen += PutPktinfo(ctrl[m].bytes + clen, sizeof ctrl[m].bytes - clen, family_, dest);
      mh.msg_control = clen ? ctrl[m].bytes : nullptr;
      mh.msg_controllen = clen;
      msgs[m].msg_len = 0;
      dgrams[m] = nseg;
      bytes[m] = total;
      used_gso[m] = nseg > 1;
      m++;
    }

    // 2. Send them.
    int r;
    if (fail_next_gso_ && used_gso[0]) {
      fail_next_gso_ = false;  // DEBUG_GSO_EINVAL: behave like a kernel/NIC refusing GSO
      r = -1;
      errno = EINVAL;
    } else if (caps_ & CAP_MMSG) {
      r = sendmmsg(fd_, msgs, m, 0);
      stats[STAT_SEND_SYSCALLS] += 1;
    } else {
      r = 0;
      for (uint32_t q = 0; q < m; q++) {
        ssize_t s = sendmsg(fd_, &msgs[q].msg_hdr, 0);
        stats[STAT_SEND_SYSCALLS] += 1;
        if (s < 0) {
          if (q == 0) r = -1;  // errno of the first message; later ones are retried next turn
          break;
        }
        r++;
      }
    }

    // 3. Account.
    if (r < 0) {
      const int e = errno;
      if (e == EINTR && ++interrupted < 3) continue;
      if (e == EAGAIN || e == EWOULDBLOCK) {
        result[SEND_EAGAIN] = 1;
        stats[STAT_SEND_EAGAIN] += 1;
        break;
      }
      if ((e == EINVAL || e == EIO) && used_gso[0]) {
        // Sticky downgrade (quinn-udp does the same): the path or the device cannot segment.
        caps_ &= ~CAP_GSO;
        stats[STAT_GSO_DISABLED_ERRNO] = e;
        result[SEND_GSO_DISABLED] = e;
        continue;  // rebuild from datagram i without GSO
      }
      if (e == EMSGSIZE) {
        // Larger than the local interface MTU (DF is set): a PMTU probe above the link, or a
        // path whose local MTU shrank. The protocol sees it as a lost packet; never fatal.
        result[SEND_EMSGSIZE] += static_cast<int32_t>(dgrams[0]);
        stats[STAT_SEND_EMSGSIZE] += dgrams[0];
      }
      result[SEND_ERRORS] += static_cast<int32_t>(dgrams[0]);
      result[SEND_LAST_ERRNO] = e;
      stats[STAT_SEND_ERRORS] += dgrams[0];
      i += dgrams[0];
      continue;
    }
    if (r == 0) {  // not documented for sendmmsg with vlen > 0; never spin on it
      result[SEND_EAGAIN] = 1;
      break;
    }
    interrupted = 0;
    for (int q = 0; q < r; q++) {
      i += dgrams[q];
      result[SEND_SENT] += static_cast<int32_t>(dgrams[q]);
      stats[STAT_PACKETS_SENT] += dgrams[q];
      stats[STAT_BYTES_SENT] += bytes[q];
    }
    if ((debug_ & DEBUG_SEND_EAGAIN) && i < count) {
      result[SEND_EAGAIN] = 1;
      stats[STAT_SEND_EAGAIN] += 1;
      break;
    }
  }
  result[SEND_PROCESSED] = static_cast<int32_t>(i);
  return i;
}

}  // namespace stt
