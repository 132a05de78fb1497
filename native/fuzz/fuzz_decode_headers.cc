// libFuzzer harness: the batch header decoder over arbitrary bytes.
//
// The input is the slab; it is cut into packets whose lengths come from the input's own bytes
// (len = data[i % size] % 48, clipped to what is left), exactly as
// test/native/header-codec.test.ts replays files from test/native/fuzz-regressions/.
// Oracle: short packets decode to zeros; every other packet re-encodes to its first 19 bytes.
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "../common.h"
#include "../frame.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  std::vector<uint32_t> offsets, lengths;
  size_t at = 0;
  for (size_t i = 0; at < size && offsets.size() < 256; i++) {
    size_t len = data[i % size] % 48;
    if (len > size - at) len = size - at;
    offsets.push_back(static_cast<uint32_t>(at));
    lengths.push_back(static_cast<uint32_t>(len));
    at += len > 0 ? len : 1;
  }
  const uint32_t n = static_cast<uint32_t>(offsets.size());
  std::vector<uint8_t> version(n), type(n), flags(n), status(n, 0xee);
  std::vector<uint64_t> sid(n), pn(n);
  stt::HeaderColumns cols{version.data(), type.data(), flags.data(), sid.data(), pn.data()};
  stt::DecodeHeaders(data, size, offsets.data(), lengths.data(), n, cols, status.data());

  uint8_t buf[stt::HEADER_SIZE];
  for (uint32_t i = 0; i < n; i++) {
    if (lengths[i] < stt::HEADER_SIZE) {
      if (status[i] != stt::HEADER_SHORT || version[i] || type[i] || flags[i] || sid[i] || pn[i]) abort();
      continue;
    }
    const uint8_t expect = data[offsets[i]] == stt::PROTOCOL_VERSION ? stt::HEADER_OK : stt::HEADER_BAD_VERSION;
    if (status[i] != expect) abort();
    uint32_t zero = 0, hs = stt::HEADER_SIZE;
    stt::HeaderColumns one{&version[i], &type[i], &flags[i], &sid[i], &pn[i]};
    stt::EncodeHeaders(buf, sizeof buf, &zero, &hs, 1, one);
    if (std::memcmp(buf, data + offsets[i], stt::HEADER_SIZE) != 0) abort();
  }
  return 0;
}
