// Batch codec of the 19-byte packet header (docs/PROTOCOL.md §2), pure C++ over caller-owned
// arrays. Byte-identical to src/native/header-codec-js.ts (the differential reference).
#pragma once

#include <cstddef>
#include <cstdint>

namespace stt {

// Column arrays, one element per packet (session ids and packet numbers as host-order u64 values
// of the big-endian wire fields, i.e. what a BigUint64Array shows in JavaScript).
struct HeaderColumns {
  uint8_t* version;
  uint8_t* type;
  uint8_t* flags;
  uint64_t* session_id;
  uint64_t* pn;
};

// Packet i is slab[offsets[i], offsets[i] + lengths[i]); every packet must lie inside the slab.
// status[i] receives a HeaderStatus; a short packet gets all-zero fields.
void DecodeHeaders(const uint8_t* slab, size_t slab_len, const uint32_t* offsets, const uint32_t* lengths,
                   uint32_t count, const HeaderColumns& out, uint8_t* status);

// Writes HEADER_SIZE bytes at each offsets[i]; every lengths[i] must be >= HEADER_SIZE.
void EncodeHeaders(uint8_t* slab, size_t slab_len, const uint32_t* offsets, const uint32_t* lengths,
                   uint32_t count, const HeaderColumns& in);

inline uint64_t LoadBe64(const uint8_t* p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; i++) v = (v << 8) | p[i];
  return v;
}

inline void StoreBe64(uint8_t* p, uint64_t v) {
  for (int i = 7; i >= 0; i--) {
    p[i] = static_cast<uint8_t>(v);
    v >>= 8;
  }
}

}  // namespace stt
