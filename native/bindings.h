// Init functions of the binding files, called once per environment from addon.cc.
#pragma once

#include <napi.h>

#include "napi_util.h"

namespace stt {
void InitAead(Napi::Env env, Napi::Object exports, AddonData* data);
void InitHandshakeCrypto(Napi::Env env, Napi::Object exports);
#ifdef STT_HAVE_UDP
void InitUdpSocket(Napi::Env env, Napi::Object exports, AddonData* data);
void InitReuseport(Napi::Env env, Napi::Object exports);
#endif
}  // namespace stt
