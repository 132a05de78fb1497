// libFuzzer harness: AEAD openBatch over arbitrary bytes, both suites.
//
// Input: byte 0 picks the suite (even = AES-256-GCM, odd = ChaCha20-Poly1305) and byte 1 the
// header size (19..50); the rest is the slab, cut into packets as in fuzz_decode_headers.cc.
// Oracles:
//   1. opening forged bytes never crashes, never reads or writes outside a packet (ASan), and
//      yields status 0 or 1 only;
//   2. round trip: sealing a copy of each long-enough packet and opening it again must give
//      status 1 and restore the original bytes; flipping one bit of it must give status 0.
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <vector>

#include "../aead.h"
#include "../common.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 3) return 0;
  const uint32_t suite = (data[0] & 1) ? stt::SUITE_CHACHA20_POLY1305 : stt::SUITE_AES_256_GCM;
  const uint32_t header_size = stt::HEADER_SIZE + data[1] % 32;
  static const uint8_t kKey[32] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16,
                                   17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32};
  static const uint8_t kIv[12] = {9, 8, 7, 6, 5, 4, 3, 2, 1, 0, 1, 2};
  std::unique_ptr<stt::AeadKey> key(stt::AeadKey::Create(suite, kKey, kIv));
  if (!key) abort();

  // The slab is a heap copy of exactly the packet bytes, so ASan sees any overrun.
  std::vector<uint8_t> slab(data + 2, data + size);
  const size_t len_total = slab.size();
  std::vector<uint32_t> offsets, lengths;
  size_t at = 0;
  for (size_t i = 0; at < len_total && offsets.size() < 64; i++) {
    size_t len = (static_cast<size_t>(slab[i % len_total]) * 7) % 600;
    if (len > len_total - at) len = len_total - at;
    offsets.push_back(static_cast<uint32_t>(at));
    lengths.push_back(static_cast<uint32_t>(len));
    at += len > 0 ? len : 1;
  }
  const uint32_t n = static_cast<uint32_t>(offsets.size());
  std::vector<uint8_t> original(slab);
  std::vector<uint8_t> status(n, 0xee);
  key->OpenBatch(slab.data(), slab.size(), offsets.data(), lengths.data(), n, header_size, status.data());
  for (uint32_t i = 0; i < n; i++)
    if (status[i] > 1) abort();

  // Round trip on the original bytes.
  for (uint32_t i = 0; i < n; i++) {
    if (lengths[i] < header_size + stt::TAG_SIZE) continue;
    const uint32_t off = offsets[i], l = lengths[i], zero = 0;
    std::vector<uint8_t> pkt(original.begin() + off, original.begin() + off + l);
    if (key->SealBatch(pkt.data(), pkt.size(), &zero, &l, 1, header_size) != 1) abort();
    std::vector<uint8_t> sealed(pkt);
    uint8_t st = 0xee;
    key->OpenBatch(pkt.data(), pkt.size(), &zero, &l, 1, header_size, &st);
    if (st != 1 || std::memcmp(pkt.data(), original.data() + off, l - stt::TAG_SIZE) != 0) abort();
    sealed[data[2] % l] ^= static_cast<uint8_t>(1u << (data[1] & 7));
    key->OpenBatch(sealed.data(), sealed.size(), &zero, &l, 1, header_size, &st);
    if (st != 0) abort();
  }
  return 0;
}
