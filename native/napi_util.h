// Small N-API helpers shared by the binding files: typed-array spans and per-env instance data.
#pragma once

#include <napi.h>

#include <memory>

#include "common.h"

namespace stt {

class PacketKeyTable;  // aead_napi.cc
class UdpSocketTable;  // udp_socket.cc

// Per-environment state (main thread and each worker get their own: the addon is context-aware).
struct AddonData {
  // Set by the env cleanup hook: from then on no native code calls into JavaScript.
  bool exiting = false;
  Napi::FunctionReference packet_key_ctor;
  // Live packet keys by id (aead_napi.cc); shared with each PacketKey, whose finalizer may run
  // after this struct is gone at env teardown.
  std::shared_ptr<PacketKeyTable> packet_keys;
  Napi::FunctionReference udp_socket_ctor;
  // Open UDP sockets by id (udp_socket.cc), shared with each socket like packet_keys.
  std::shared_ptr<UdpSocketTable> udp_sockets;
};

inline AddonData* GetAddonData(napi_env env) { return Napi::Env(env).GetInstanceData<AddonData>(); }

template <typename T>
struct Span {
  T* data;
  size_t length;  // elements
};

// The TypeScript wrappers check types before calling; a wrong type here is a bug (assert).
template <typename T>
inline Span<T> SpanOf(napi_env env, napi_value v, napi_typedarray_type expected) {
  napi_typedarray_type type;
  size_t length = 0;
  void* data = nullptr;
  napi_status s = napi_get_typedarray_info(env, v, &type, &length, &data, nullptr, nullptr);
  STT_ASSERT(s == napi_ok && type == expected);
  return Span<T>{static_cast<T*>(data), length};
}

inline Span<uint8_t> BytesOf(napi_env env, napi_value v) { return SpanOf<uint8_t>(env, v, napi_uint8_array); }
inline Span<uint32_t> U32Of(napi_env env, napi_value v) { return SpanOf<uint32_t>(env, v, napi_uint32_array); }

// The status says whether it was a number: no separate napi_typeof (several per packet, issue 13).
inline uint32_t U32Arg(const Napi::CallbackInfo& info, size_t i) {
  uint32_t v = 0;
  const napi_status s = napi_get_value_uint32(info.Env(), info[i], &v);
  STT_ASSERT(s == napi_ok);
  return v;
}

}  // namespace stt
