// Shared constants, status codes and the assert macro of the stt_native addon.
//
// Everything here is plain C++ (no N-API) so the libFuzzer harnesses in native/fuzz/ can
// compile the codec and AEAD cores on their own. Values mirror src/protocol/constants.ts,
// src/crypto/aead.ts and src/native/binding.ts; ABI_VERSION changes whenever any of them (or a
// function signature of the addon) changes, and src/native/load.ts refuses a mismatch.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>

namespace stt {

constexpr uint32_t ABI_VERSION = 1;

// Packet header (docs/PROTOCOL.md §2): version u8 | type u8 | flags u8 | session id 8 B |
// packet number u64 big-endian. Mirrors src/protocol/constants.ts.
constexpr uint32_t PROTOCOL_VERSION = 1;
constexpr uint32_t VERSION_OFFSET = 0;
constexpr uint32_t TYPE_OFFSET = 1;
constexpr uint32_t FLAGS_OFFSET = 2;
constexpr uint32_t SESSION_ID_OFFSET = 3;
constexpr uint32_t SESSION_ID_SIZE = 8;
constexpr uint32_t PN_OFFSET = 11;
constexpr uint32_t HEADER_SIZE = 19;

// AEAD (src/crypto/aead.ts).
constexpr uint32_t KEY_SIZE = 32;
constexpr uint32_t IV_SIZE = 12;
constexpr uint32_t TAG_SIZE = 16;
enum Suite : uint32_t { SUITE_AES_256_GCM = 1, SUITE_CHACHA20_POLY1305 = 2 };

// UdpSocket debug flags: force the slow paths so tests reach them on any kernel.
enum DebugFlag : uint32_t {
  DEBUG_NO_GSO = 1,         // never attach UDP_SEGMENT
  DEBUG_NO_GRO = 2,         // never enable UDP_GRO
  DEBUG_NO_MMSG = 4,        // recvmsg/sendmsg one datagram per syscall
  DEBUG_SEND_EAGAIN = 8,    // each send() stops after its first message, as if the socket said EAGAIN
  DEBUG_GSO_EINVAL = 16,    // the first GSO send fails with EINVAL (exercises the sticky downgrade)
};

// UdpSocket capability bits (caps()).
enum Capability : uint32_t { CAP_GSO = 1, CAP_GRO = 2, CAP_MMSG = 4, CAP_PKTINFO = 8 };

// Address record, 12 x u32 = 48 bytes, used both for received datagrams (one per entry of the
// receive metadata) and for a send destination. Layout mirrored in src/native/binding.ts.
constexpr uint32_t ADDR_FAMILY = 0;     // 4 or 6
constexpr uint32_t ADDR_PORT = 1;       // host order
constexpr uint32_t ADDR_REMOTE = 2;     // u32 index of 16 raw address bytes (IPv4: first 4)
constexpr uint32_t ADDR_LOCAL = 6;      // 16 bytes: the local address the datagram was sent to
constexpr uint32_t ADDR_IFINDEX = 10;   // interface of ADDR_LOCAL
constexpr uint32_t ADDR_FLAGS = 11;     // bit 0: ADDR_LOCAL/ADDR_IFINDEX are valid
constexpr uint32_t ADDR_STRIDE = 12;
constexpr uint32_t ADDR_FLAG_LOCAL = 1;

// Per-socket counters, a Float64Array owned by TypeScript (exact up to 2^53, read without a call).
enum Stat : uint32_t {
  STAT_PACKETS_RECEIVED = 0,
  STAT_BYTES_RECEIVED,
  STAT_RECV_SYSCALLS,
  STAT_GRO_SUPER_DATAGRAMS,  // received entries that the kernel had coalesced (more than one segment)
  STAT_PACKETS_SENT,
  STAT_BYTES_SENT,
  STAT_SEND_SYSCALLS,
  STAT_SEND_ERRORS,
  STAT_SEND_EAGAIN,
  STAT_DROPPED_TRUNCATED,  // datagram larger than a receive slot
  STAT_DROPPED_META_FULL,  // more segments than the metadata arrays hold
  STAT_RECV_ERRORS,
  STAT_GSO_DISABLED_ERRNO,  // errno that switched GSO off for good (0 while on)
  STAT_RECV_CALLBACKS,
  STAT_COUNT,
};

// Result of one send() call, an Int32Array owned by TypeScript.
enum SendResultIndex : uint32_t {
  SEND_PROCESSED = 0,  // datagrams sent or failed; the rest of the batch hit EAGAIN
  SEND_SENT,
  SEND_ERRORS,
  SEND_LAST_ERRNO,
  SEND_EAGAIN,         // 1 when the call stopped on EAGAIN
  SEND_GSO_DISABLED,   // errno when this call switched GSO off, else 0
  SEND_RESULT_COUNT,
};

[[noreturn]] inline void AssertFail(const char* expr, const char* file, int line) {
  std::fprintf(stderr, "stt_native: assertion failed: %s (%s:%d)\n", expr, file, line);
  std::fflush(stderr);
  std::abort();
}

}  // namespace stt

// Invariants the TypeScript wrapper has already checked: a failure is a bug, never bad input.
#define STT_ASSERT(cond)                                   \
  do {                                                     \
    if (!(cond)) ::stt::AssertFail(#cond, __FILE__, __LINE__); \
  } while (0)
