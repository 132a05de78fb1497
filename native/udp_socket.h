// UDP socket for the batch Transport (src/transport/udp-native.ts).
//
// UdpCore (udp_linux.cc) is the syscall layer: open/bind with large buffers, capability probes
// (UDP_SEGMENT = GSO, UDP_GRO, IP_PKTINFO), recvmmsg straight into the TypeScript-owned slab with
// GRO super-datagrams split into per-datagram entries, and sendmmsg with GSO grouping (one destination per batch, or one per datagram). It has no
// N-API and no libuv. udp_socket.cc wraps it as the JS class UdpSocket driven by uv_poll.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>

#include <sys/socket.h>

namespace stt {

// Fills *ss for family 4 or 6 from 16 raw address bytes (IPv4: the first 4) and a port; returns
// the length to pass with it (udp_linux.cc; also reuseport_cbpf.cc's bind).
socklen_t FillSockaddr(int family, const uint8_t* addr, uint16_t port, sockaddr_storage* ss);

// Where received datagrams go. Slot i of the slab is [i * slot_size, (i + 1) * slot_size); entry
// k of the metadata is offsets[k], lengths[k] and the 12-u32 address record addrs[k * ADDR_STRIDE].
struct RecvTarget {
  uint8_t* slab = nullptr;
  size_t slab_len = 0;
  uint32_t slot_size = 0;
  uint32_t* offsets = nullptr;
  uint32_t* lengths = nullptr;
  uint32_t* addrs = nullptr;
  uint32_t capacity = 0;  // entries
};

struct OpenResult {
  int err = 0;  // positive errno, 0 on success
  uint32_t port = 0;
  int recv_buffer = 0;  // as granted by the kernel (getsockopt; Linux reports twice the request)
  int send_buffer = 0;
};

class UdpCore {
 public:
  // Most messages per recvmmsg/sendmmsg call and receive slots used per round.
  static constexpr uint32_t kMaxMsgs = MAX_MSGS;
  // Most segments in one GSO super-datagram we send: UDP_MAX_SEGMENTS is 64 on older kernels
  // (EINVAL beyond it), 128 on 6.x; stay within both.
  static constexpr uint32_t kMaxGsoSegments = 64;
  // Most segments one received GRO super-datagram can carry (UDP_MAX_SEGMENTS on 6.x). The TS
  // side sizes its metadata arrays as slots * this when GRO is on.
  static constexpr uint32_t kMaxGroSegments = MAX_GRO_SEGMENTS;

  UdpCore();
  ~UdpCore();
  UdpCore(const UdpCore&) = delete;
  UdpCore& operator=(const UdpCore&) = delete;

  // family 4 or 6; addr = 16 raw bytes (IPv4: first 4). Buffer sizes in bytes (0 = OS default).
  // adopt_fd >= 0: use a dup of that already bound socket (a reuseport group member the main
  // thread keeps, reuseport_cbpf.cc) instead of binding a new one; addr/port are then ignored.
  OpenResult Open(int family, const uint8_t* addr, uint16_t port, int recv_buffer, int send_buffer, bool want_gso,
                  bool want_gro, uint32_t debug_flags, int adopt_fd = -1);
  void Close();
  int fd() const { return fd_; }
  uint32_t caps() const { return caps_; }

  // One receive round: at most kMaxMsgs datagrams (recvmmsg, or recvmsg one by one without
  // mmsg). Returns the number of entries written; *more is true when the round was full (the
  // socket may hold more). Counters go to stats (a STAT_COUNT array).
  uint32_t RecvRound(const RecvTarget& t, double* stats, bool* more);

  // Sends count datagrams to dest (a 12-u32 address record), in place from slab. Stops at
  // EAGAIN. Fills result (SEND_RESULT_COUNT ints) and returns result[SEND_PROCESSED].
  uint32_t SendBatch(const uint8_t* slab, size_t slab_len, const uint32_t* offsets, const uint32_t* lengths,
                     uint32_t count, const uint32_t* dest, double* stats, int32_t* result);
  // As SendBatch, datagram k to its own record dests[k * ADDR_STRIDE] (the TS sendMulti): one
  // sendmmsg carries datagrams to many peers; same-destination runs still become GSO groups.
  uint32_t SendMulti(const uint8_t* slab, size_t slab_len, const uint32_t* offsets, const uint32_t* lengths,
                     uint32_t count, const uint32_t* dests, double* stats, int32_t* result);

 private:
  // Both sends: datagram k goes to dests + k * dest_stride (stride 0: all to dests).
  uint32_t SendDatagrams(const uint8_t* slab, size_t slab_len, const uint32_t* offsets, const uint32_t* lengths,
                         uint32_t count, const uint32_t* dests, uint32_t dest_stride, double* stats, int32_t* result);
  // The record names this socket's family and a port the kernel accepts (not 0).
  bool UsableDest(const uint32_t* dest) const;

  // recvmmsg's message headers, kept between rounds (udp_linux.cc, RecvHeaders).
  struct RecvHeaders;
  RecvHeaders& HeadersFor(const RecvTarget& t, uint32_t want);

  std::unique_ptr<RecvHeaders> recv_headers_;

  int fd_ = -1;
  int family_ = 4;
  uint32_t caps_ = 0;
  uint32_t debug_ = 0;
  bool wildcard_ = false;  // bound to 0.0.0.0 / ::, so replies need an explicit source (PKTINFO)
  bool fail_next_gso_ = false;
};

}  // namespace stt
