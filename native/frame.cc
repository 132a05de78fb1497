#include "frame.h"

#include "common.h"

namespace stt {

// Bounds are asserted, not checked: TypeScript validated them (src/native/header-codec-native.ts
// wrappers), and the fuzz harness only feeds in-bounds packets.
static inline void AssertInSlab(size_t slab_len, uint32_t off, uint32_t len) {
  STT_ASSERT(static_cast<uint64_t>(off) + len <= slab_len);
}

void DecodeHeaders(const uint8_t* slab, size_t slab_len, const uint32_t* offsets, const uint32_t* lengths,
                   uint32_t count, const HeaderColumns& out, uint8_t* status) {
  for (uint32_t i = 0; i < count; i++) {
    const uint32_t off = offsets[i], len = lengths[i];
    AssertInSlab(slab_len, off, len);
    if (len < HEADER_SIZE) {
      out.version[i] = out.type[i] = out.flags[i] = 0;
      out.session_id[i] = out.pn[i] = 0;
      status[i] = HEADER_SHORT;
      continue;
    }
    const uint8_t* p = slab + off;
    out.version[i] = p[VERSION_OFFSET];              // u8
    out.type[i] = p[TYPE_OFFSET];                    // u8, PacketType
    out.flags[i] = p[FLAGS_OFFSET];                  // u8, HeaderFlag bits
    out.session_id[i] = LoadBe64(p + SESSION_ID_OFFSET);  // 8 opaque bytes, read big-endian
    out.pn[i] = LoadBe64(p + PN_OFFSET);             // u64 big-endian packet number
    status[i] = p[VERSION_OFFSET] == PROTOCOL_VERSION ? HEADER_OK : HEADER_BAD_VERSION;
  }
}

void EncodeHeaders(uint8_t* slab, size_t slab_len, const uint32_t* offsets, const uint32_t* lengths,
                   uint32_t count, const HeaderColumns& in) {
  for (uint32_t i = 0; i < count; i++) {
    const uint32_t off = offsets[i], len = lengths[i];
    AssertInSlab(slab_len, off, len);
    STT_ASSERT(len >= HEADER_SIZE);
    uint8_t* p = slab + off;
    p[VERSION_OFFSET] = in.version[i];
    p[TYPE_OFFSET] = in.type[i];
    p[FLAGS_OFFSET] = in.flags[i];
    StoreBe64(p + SESSION_ID_OFFSET, in.session_id[i]);
    StoreBe64(p + PN_OFFSET, in.pn[i]);
  }
}

}  // namespace stt
