#!/usr/bin/env bash
# Builds and runs the libFuzzer harness of native/fuzz/ (AEAD open) for a bounded time.
#
#   scripts/fuzz.sh [SECONDS]     (default 20 per harness)
#
# Installs nothing. Needs clang with libFuzzer + ASan runtimes and OpenSSL headers/libcrypto; on
# Debian 12: apt-get install -y clang-14 libclang-rt-14-dev libssl-dev. CLANGXX overrides the
# compiler. Exits non-zero when a harness finds a crash (or fails to build); libFuzzer then
# writes the reproducer into test/native/fuzz-regressions/aead/ (replayed here first on every
# run): keep it, fix the bug, commit both.
set -euo pipefail

secs="${1:-20}"
case "$secs" in '' | *[!0-9]*) echo "usage: $0 [SECONDS]" >&2; exit 2 ;; esac

root="$(cd "$(dirname "$0")/.." && pwd)"
out="$root/build/fuzz"
regress="$root/test/native/fuzz-regressions"
mkdir -p "$out" "$regress/aead"

cxx="${CLANGXX:-}"
if [ -z "$cxx" ]; then
  for c in clang++ clang++-19 clang++-18 clang++-17 clang++-16 clang++-15 clang++-14; do
    if command -v "$c" >/dev/null 2>&1; then cxx="$c"; break; fi
  done
fi
if [ -z "$cxx" ]; then
  echo "fuzz.sh: no clang++ found (apt-get install -y clang-14 libclang-rt-14-dev libssl-dev)" >&2
  exit 2
fi

flags=(-std=c++17 -O1 -g -fno-omit-frame-pointer -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined)

build() { # name sources...
  local name="$1"; shift
  echo "fuzz.sh: building $name with $cxx"
  "$cxx" "${flags[@]}" -I"$root/native" "$@" -o "$out/$name" -lcrypto
}
build fuzz_aead_open "$root/native/fuzz/fuzz_aead_open.cc" "$root/native/aead.cc"

status=0
run() { # name artifact-dir seed-dir
  local name="$1" artifacts="$2" seeds="$3"
  local corpus="$out/corpus-$name"
  mkdir -p "$corpus"
  # Known reproducers and seeds first: a regression fails fast, before any new search.
  local files=()
  while IFS= read -r -d '' f; do files+=("$f"); done < <(find "$seeds" -maxdepth 1 -type f ! -name 'README.md' -print0)
  if [ "${#files[@]}" -gt 0 ]; then
    echo "fuzz.sh: $name: replaying ${#files[@]} saved input(s)"
    "$out/$name" -artifact_prefix="$artifacts/" "${files[@]}" >"$out/$name.replay.log" 2>&1 || {
      echo "fuzz.sh: $name: a saved input crashes (see $out/$name.replay.log)" >&2
      status=1
      return
    }
  fi
  echo "fuzz.sh: $name: fuzzing for ${secs}s"
  if ! "$out/$name" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -max_len=4096 \
    -artifact_prefix="$artifacts/" -print_final_stats=1 "$corpus" "$seeds" >"$out/$name.log" 2>&1; then
    echo "fuzz.sh: $name: CRASH (reproducer in $artifacts/, log $out/$name.log)" >&2
    tail -n 30 "$out/$name.log" >&2
    status=1
    return
  fi
  grep -E '^stat::number_of_executed_units|^stat::new_units_added' "$out/$name.log" | sed "s/^/fuzz.sh: $name: /"
}
run fuzz_aead_open "$regress/aead" "$regress/aead"
exit "$status"
