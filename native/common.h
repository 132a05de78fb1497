// Shared constants and the assert macro of the stt_native addon.
//
// Everything here is plain C++ (no N-API) so the libFuzzer harness in native/fuzz/ can compile
// the AEAD core on its own. The constants (header layout, ABI_VERSION, record layouts, counter
// indexes, flags) are generated with their TypeScript twins from scripts/wire-constants.json
// into wire_constants.h; ABI_VERSION changes whenever any of them (or a function signature of
// the addon) changes, and src/native/load.ts refuses a mismatch.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>

#include "wire_constants.h"

namespace stt {

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
