# stt_native: the optional C++ hot path (batch AEAD, handshake X25519/HKDF, mmsg/GSO/GRO UDP socket).
# Built by scripts/build-native.mjs at `npm install` (node-gyp rebuild); src/native/load.ts falls
# back to the pure-TypeScript backend when build/Release/stt_native.node is missing.
{
  "targets": [
    {
      "target_name": "stt_native",
      "sources": [
        "native/addon.cc",
        "native/aead.cc",
        "native/aead_napi.cc",
        "native/handshake_crypto.cc",
        "native/handshake_crypto_napi.cc"
      ],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": [
        # N-API 8 gives napi_add_async_cleanup_hook (sockets close cleanly when a worker exits).
        "NAPI_VERSION=8",
        # C++ invariants are asserts; argument errors are thrown by the TypeScript wrappers.
        "NAPI_DISABLE_CPP_EXCEPTIONS",
        "NODE_ADDON_API_DISABLE_DEPRECATED"
      ],
      "cflags!": ["-fno-exceptions", "-O2", "-O0"],
      "cflags_cc!": ["-fno-exceptions", "-O2", "-O0"],
      "cflags": ["-O3", "-Wall", "-Wextra", "-Wno-unused-parameter", "-fvisibility=hidden"],
      "cflags_cc": ["-O3", "-std=c++17", "-Wall", "-Wextra", "-Wno-unused-parameter", "-fvisibility=hidden"],
      "conditions": [
        # recvmmsg/sendmmsg, UDP_SEGMENT (GSO), UDP_GRO and IP_PKTINFO are Linux APIs. Elsewhere the
        # addon ships AEAD only, and TypeScript uses node:dgram for UDP.
        ["OS=='linux'", {
          "sources": ["native/udp_socket.cc", "native/udp_linux.cc", "native/reuseport_cbpf.cc"],
          "defines": ["STT_HAVE_UDP=1"]
        }],
        ["OS=='mac'", {
          "xcode_settings": {
            "GCC_OPTIMIZATION_LEVEL": "3",
            "CLANG_CXX_LANGUAGE_STANDARD": "c++17",
            "OTHER_CPLUSPLUSFLAGS": ["-fvisibility=hidden"]
          }
        }]
      ]
    }
  ]
}
