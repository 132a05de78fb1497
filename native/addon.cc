// stt_native module init: per-environment instance data, the env cleanup hook that sets
// `exiting`, exported constants (mirrored in src/native/binding.ts) and the binding functions.
//
// The module is context-aware (N-API modules always are): every worker that loads it gets its
// own AddonData, constructors and cleanup hook; no global mutable state exists except the
// process-wide live-socket counter in udp_socket.cc (an atomic, for leak tests).
#include <napi.h>

#include "bindings.h"
#include "common.h"
#include "napi_util.h"

namespace stt {
namespace {

void OnEnvCleanup(void* arg) { static_cast<AddonData*>(arg)->exiting = true; }

void SetU32(Napi::Env env, Napi::Object target, const char* name, uint32_t value) {
  target.Set(name, Napi::Number::New(env, value));
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  AddonData* data = new AddonData();
  // N-API deletes the instance data (and with it the constructor references) at env teardown,
  // after the cleanup hook below has set `exiting`.
  env.SetInstanceData<AddonData>(data);
  napi_add_env_cleanup_hook(env, OnEnvCleanup, data);

  SetU32(env, exports, "ABI_VERSION", ABI_VERSION);
  SetU32(env, exports, "PROTOCOL_VERSION", PROTOCOL_VERSION);
  SetU32(env, exports, "HEADER_SIZE", HEADER_SIZE);
  SetU32(env, exports, "PN_OFFSET", PN_OFFSET);
  SetU32(env, exports, "KEY_SIZE", KEY_SIZE);
  SetU32(env, exports, "IV_SIZE", IV_SIZE);
  SetU32(env, exports, "TAG_SIZE", TAG_SIZE);
  SetU32(env, exports, "ADDR_STRIDE", ADDR_STRIDE);
  SetU32(env, exports, "STAT_COUNT", STAT_COUNT);
  SetU32(env, exports, "SEND_RESULT_COUNT", SEND_RESULT_COUNT);

  InitAead(env, exports, data);
  InitHandshakeCrypto(env, exports);
#ifdef STT_HAVE_UDP
  InitUdpSocket(env, exports, data);
  InitReuseport(env, exports);
#endif
  return exports;
}

}  // namespace
}  // namespace stt

// NODE_API_MODULE pastes the init function name into an identifier: it must be unqualified.
static Napi::Object InitSttNative(Napi::Env env, Napi::Object exports) { return stt::Init(env, exports); }

NODE_API_MODULE(stt_native, InitSttNative)
