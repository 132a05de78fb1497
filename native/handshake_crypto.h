// Handshake primitives (X25519, HKDF-SHA256, HMAC-SHA256, SHA-256) over OpenSSL's EVP API (no
// deprecated low-level call, so it builds with OPENSSL_NO_DEPRECATED_3_0), the
// native fast path of src/crypto/handshake-crypto.ts. Plain C++ (no N-API), like aead.h, so a
// fuzz harness or a C benchmark can drive it directly.
//
// Why native: node:crypto builds a KeyObject per X25519 key import and per public key, and a
// JavaScript object per hash/HMAC/HKDF call; a responder's handshake makes ~30 such calls, and
// their overhead was larger than the curve arithmetic itself (bench/scale.mjs).
#pragma once

#include <openssl/evp.h>

#include <cstddef>
#include <cstdint>

namespace stt {

constexpr size_t X25519_KEY_SIZE = 32;
constexpr size_t SHA256_SIZE = 32;
// RFC 5869: at most 255 blocks of the hash output.
constexpr size_t HKDF_SHA256_MAX = 255 * SHA256_SIZE;

// An X25519 private key held in OpenSSL memory (never in the JavaScript heap). OpenSSL derives
// the public key when the private key is imported, so PublicKey() only copies it out.
class X25519Key {
 public:
  // nullptr only if OpenSSL refuses (never for 32 bytes). The caller wipes `priv`.
  static X25519Key* Create(const uint8_t priv[X25519_KEY_SIZE]);
  ~X25519Key();  // EVP_PKEY_free cleanses the private key
  X25519Key(const X25519Key&) = delete;
  X25519Key& operator=(const X25519Key&) = delete;

  bool PublicKey(uint8_t out[X25519_KEY_SIZE]) const;
  // X25519(priv, peer). false when OpenSSL fails or the result is all zero (a low-order peer
  // key: non-contributory, RFC 7748 §6.1), and then `out` is zeroed. Same rule as the
  // TypeScript x25519() in src/crypto/primitives.ts. Not const and not thread-safe: it makes
  // and then reuses the key's derive context, so one key must not be used by two threads at
  // once (a JavaScript object, and so its key, belongs to one thread).
  bool Dh(const uint8_t peer[X25519_KEY_SIZE], uint8_t out[X25519_KEY_SIZE]);

 private:
  explicit X25519Key(EVP_PKEY* pkey) : pkey_(pkey) {}
  EVP_PKEY* pkey_;
  // Made by the first Dh and kept (EVP_PKEY_derive_init done): later DHs only set the peer.
  EVP_PKEY_CTX* derive_ = nullptr;
};

// X25519(priv, peer) from 32 raw private bytes, without deriving the private key's public key
// (which importing it as an X25519Key does, at the cost of a second scalar multiplication): for
// a key that is used once and whose public key is already known elsewhere, such as the
// responder's ephemeral key carried in a handshake cookie. Same results and failure rule as
// X25519Key::Dh. The caller wipes `priv`.
bool X25519Once(const uint8_t priv[X25519_KEY_SIZE], const uint8_t peer[X25519_KEY_SIZE], uint8_t out[X25519_KEY_SIZE]);

// A fresh key pair from 32 raw private bytes used for one DH: its public key into `pub` and
// X25519(priv, peer) into `out`, in one call and with no key object left behind (the responder's
// ephemeral key of a CHALLENGE: the cookie carries the private bytes for the second DH). Same
// failure rule as X25519Key::Dh; on failure `out` is zeroed. The caller wipes `priv`.
bool X25519Ephemeral(const uint8_t priv[X25519_KEY_SIZE], const uint8_t peer[X25519_KEY_SIZE], uint8_t pub[X25519_KEY_SIZE],
                     uint8_t out[X25519_KEY_SIZE]);

// HKDF-SHA256 extract-then-expand (RFC 5869). false when out_len is 0 or > HKDF_SHA256_MAX or
// OpenSSL fails (then `out` is zeroed). Empty salt/info/ikm are allowed. `out` must not overlap
// `info`: each output block is written before the next one reads info (the result would be
// wrong). It may overlap ikm and salt, which are read before anything is written.
bool HkdfSha256(const uint8_t* ikm, size_t ikm_len, const uint8_t* salt, size_t salt_len, const uint8_t* info,
                size_t info_len, uint8_t* out, size_t out_len);

// HMAC-SHA256 and SHA-256: false only if OpenSSL fails. `out` may overlap the input.
bool HmacSha256(const uint8_t* key, size_t key_len, const uint8_t* data, size_t data_len, uint8_t out[SHA256_SIZE]);

bool Sha256(const uint8_t* data, size_t data_len, uint8_t out[SHA256_SIZE]);

// SHA3-256 (node ids): false only if OpenSSL fails or lacks it. `out` may overlap the input.
constexpr size_t SHA3_256_SIZE = 32;
bool Sha3_256(const uint8_t* data, size_t data_len, uint8_t out[SHA3_256_SIZE]);

}  // namespace stt
