// N-API surface of the header codec. Arguments were validated by
// src/native/header-codec-native.ts; here they are only asserted.
#include "bindings.h"
#include "frame.h"
#include "napi_util.h"

namespace stt {
namespace {

Span<uint64_t> U64Of(napi_env env, napi_value v) { return SpanOf<uint64_t>(env, v, napi_biguint64_array); }

// decodeHeaders(slab, offsets, lengths, count, version, type, flags, sessionId, pn, status)
void DecodeHeadersJs(const Napi::CallbackInfo& info) {
  napi_env env = info.Env();
  Span<uint8_t> slab = BytesOf(env, info[0]);
  Span<uint32_t> offsets = U32Of(env, info[1]), lengths = U32Of(env, info[2]);
  const uint32_t count = U32Arg(info, 3);
  Span<uint8_t> version = BytesOf(env, info[4]), type = BytesOf(env, info[5]), flags = BytesOf(env, info[6]);
  Span<uint64_t> sid = U64Of(env, info[7]), pn = U64Of(env, info[8]);
  Span<uint8_t> status = BytesOf(env, info[9]);
  STT_ASSERT(count <= offsets.length && count <= lengths.length && count <= version.length &&
             count <= type.length && count <= flags.length && count <= sid.length && count <= pn.length &&
             count <= status.length);
  DecodeHeaders(slab.data, slab.length, offsets.data, lengths.data, count,
                HeaderColumns{version.data, type.data, flags.data, sid.data, pn.data}, status.data);
}

// encodeHeaders(slab, offsets, lengths, count, version, type, flags, sessionId, pn)
void EncodeHeadersJs(const Napi::CallbackInfo& info) {
  napi_env env = info.Env();
  Span<uint8_t> slab = BytesOf(env, info[0]);
  Span<uint32_t> offsets = U32Of(env, info[1]), lengths = U32Of(env, info[2]);
  const uint32_t count = U32Arg(info, 3);
  Span<uint8_t> version = BytesOf(env, info[4]), type = BytesOf(env, info[5]), flags = BytesOf(env, info[6]);
  Span<uint64_t> sid = U64Of(env, info[7]), pn = U64Of(env, info[8]);
  STT_ASSERT(count <= offsets.length && count <= lengths.length && count <= version.length &&
             count <= type.length && count <= flags.length && count <= sid.length && count <= pn.length);
  EncodeHeaders(slab.data, slab.length, offsets.data, lengths.data, count,
                HeaderColumns{version.data, type.data, flags.data, sid.data, pn.data});
}

}  // namespace

void InitFrame(Napi::Env env, Napi::Object exports) {
  exports.Set("decodeHeaders", Napi::Function::New<DecodeHeadersJs>(env, "decodeHeaders"));
  exports.Set("encodeHeaders", Napi::Function::New<EncodeHeadersJs>(env, "encodeHeaders"));
}

}  // namespace stt
