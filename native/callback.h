// The one path from native code into JavaScript (lesson 6 of docs/design: never paste the
// scope/reference/call block at each call site).
//
// - A handle scope is opened here: callers are libuv callbacks that have none.
// - napi_make_callback (not napi_call_function) so async_hooks/AsyncLocalStorage see the call
//   under the socket's async context, and process.nextTick / microtasks drain afterwards.
// - A throw in the callback is not swallowed: it is rethrown as an uncaught exception with
//   napi_fatal_exception, exactly as a throw in a node:dgram 'message' listener would be.
// - Nothing is called once the environment is exiting (worker terminate, process exit).
#pragma once

#include <node_api.h>

#include "napi_util.h"

namespace stt {

// Calls fn_ref with receiver_ref as `this` and up to 4 numeric arguments (every callback of the
// addon passes numbers only; the arguments are created inside the scope opened here). Returns
// false when the call did not complete normally (exiting, or the callback threw); the caller
// then stops its loop for this turn.
inline bool CallJs(napi_env env, napi_async_context async_context, napi_ref receiver_ref, napi_ref fn_ref,
                   size_t argc, const double* args) {
  STT_ASSERT(argc <= 4);
  AddonData* data = GetAddonData(env);
  if (data == nullptr || data->exiting) return false;
  napi_handle_scope scope;
  if (napi_open_handle_scope(env, &scope) != napi_ok) return false;
  napi_value receiver, fn, result, argv[4];
  bool ok = napi_get_reference_value(env, receiver_ref, &receiver) == napi_ok &&
            napi_get_reference_value(env, fn_ref, &fn) == napi_ok && fn != nullptr;
  for (size_t i = 0; ok && i < argc; i++) ok = napi_create_double(env, args[i], &argv[i]) == napi_ok;
  if (ok) {
    napi_status s = napi_make_callback(env, async_context, receiver, fn, argc, argv, &result);
    if (s != napi_ok) {
      ok = false;
      // Only a real pending exception is rethrown: during teardown N-API may report a status
      // without any exception behind it, and there is nobody left to receive it.
      bool pending = false;
      if (napi_is_exception_pending(env, &pending) == napi_ok && pending) {
        napi_value err;
        napi_get_and_clear_last_exception(env, &err);
        napi_fatal_exception(env, err);
      }
    }
  }
  napi_close_handle_scope(env, scope);
  return ok;
}

}  // namespace stt
