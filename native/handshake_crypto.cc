#include "handshake_crypto.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/params.h>

namespace stt {

namespace {

// Algorithms are fetched once per process: OpenSSL 3 otherwise looks the name up in its
// provider store on every call, which costs as much as a short hash. Fetched objects are
// reference-counted and safe to share between threads; function-local statics are initialised
// once even with worker threads (C++11).
const EVP_MD* Sha256Md() {
  static EVP_MD* md = EVP_MD_fetch(nullptr, "SHA256", nullptr);
  return md;
}

EVP_KDF* HkdfKdf() {
  static EVP_KDF* kdf = EVP_KDF_fetch(nullptr, "HKDF", nullptr);
  return kdf;
}

EVP_MAC* HmacMac() {
  static EVP_MAC* mac = EVP_MAC_fetch(nullptr, "HMAC", nullptr);
  return mac;
}

// One HMAC-SHA256 context per thread, its digest set once. OpenSSL 3's one-shot HMAC() fetches
// the MAC by name and builds a context on every call: 3.6 us for 256 bytes on the project's VM,
// and a RETRY answer computes three. The context is re-keyed on each call; HmacSha256 leaves it
// keyed with zeros, so no key's inner and outer hash states stay behind in it between calls.
EVP_MAC_CTX* ThreadHmacCtx() {
  struct Holder {
    EVP_MAC_CTX* ctx = nullptr;
    ~Holder() { EVP_MAC_CTX_free(ctx); }
  };
  thread_local Holder holder;
  if (holder.ctx == nullptr) {
    EVP_MAC* mac = HmacMac();
    EVP_MAC_CTX* ctx = mac == nullptr ? nullptr : EVP_MAC_CTX_new(mac);
    char digest[] = "SHA256";
    OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0), OSSL_PARAM_construct_end()};
    if (ctx == nullptr || EVP_MAC_CTX_set_params(ctx, params) != 1) {
      EVP_MAC_CTX_free(ctx);
      ERR_clear_error();
      return nullptr;
    }
    holder.ctx = ctx;
  }
  return holder.ctx;
}

// One EVP_PKEY_CTX per thread for importing X25519 keys with EVP_PKEY_fromdata (X25519Once):
// creating one looks the key manager up by name.
EVP_PKEY_CTX* ThreadX25519ImportCtx() {
  struct Holder {
    EVP_PKEY_CTX* ctx = nullptr;
    ~Holder() { EVP_PKEY_CTX_free(ctx); }
  };
  thread_local Holder holder;
  if (holder.ctx == nullptr) {
    holder.ctx = EVP_PKEY_CTX_new_from_name(nullptr, "X25519", nullptr);
    if (holder.ctx == nullptr) ERR_clear_error();
  }
  return holder.ctx;
}

// X25519(ours, peer) into out. false when OpenSSL fails or the result is all zero; out is then zeroed.
bool DeriveX25519(EVP_PKEY* ours, const uint8_t peer[X25519_KEY_SIZE], uint8_t out[X25519_KEY_SIZE]) {
  EVP_PKEY* peer_key = EVP_PKEY_new_raw_public_key(EVP_PKEY_X25519, nullptr, peer, X25519_KEY_SIZE);
  EVP_PKEY_CTX* ctx = peer_key != nullptr ? EVP_PKEY_CTX_new_from_pkey(nullptr, ours, nullptr) : nullptr;
  size_t len = X25519_KEY_SIZE;
  // validate_peer = 0: an X25519 public key is any 32 bytes (RFC 7748); the check that matters,
  // a non-zero result, is done below for every key.
  bool ok = ctx != nullptr && EVP_PKEY_derive_init(ctx) == 1 && EVP_PKEY_derive_set_peer_ex(ctx, peer_key, 0) == 1 &&
            EVP_PKEY_derive(ctx, out, &len) == 1 && len == X25519_KEY_SIZE;
  EVP_PKEY_CTX_free(ctx);
  EVP_PKEY_free(peer_key);
  if (!ok) {
    // OpenSSL itself refuses an all-zero result; either way nothing is left behind.
    ERR_clear_error();
    OPENSSL_cleanse(out, X25519_KEY_SIZE);
    return false;
  }
  // Constant-time all-zero check, as in the TypeScript path (OR of every byte).
  uint8_t acc = 0;
  for (size_t i = 0; i < X25519_KEY_SIZE; i++) acc |= out[i];
  return acc != 0;
}

}  // namespace

X25519Key* X25519Key::Create(const uint8_t priv[X25519_KEY_SIZE]) {
  EVP_PKEY* pkey = EVP_PKEY_new_raw_private_key(EVP_PKEY_X25519, nullptr, priv, X25519_KEY_SIZE);
  if (pkey == nullptr) {
    ERR_clear_error();
    return nullptr;
  }
  return new X25519Key(pkey);
}

X25519Key::~X25519Key() { EVP_PKEY_free(pkey_); }

bool X25519Key::PublicKey(uint8_t out[X25519_KEY_SIZE]) const {
  size_t len = X25519_KEY_SIZE;
  bool ok = EVP_PKEY_get_raw_public_key(pkey_, out, &len) == 1 && len == X25519_KEY_SIZE;
  if (!ok) ERR_clear_error();
  return ok;
}

bool X25519Key::Dh(const uint8_t peer[X25519_KEY_SIZE], uint8_t out[X25519_KEY_SIZE]) const {
  return DeriveX25519(pkey_, peer, out);
}

bool X25519Once(const uint8_t priv[X25519_KEY_SIZE], const uint8_t peer[X25519_KEY_SIZE], uint8_t out[X25519_KEY_SIZE]) {
  // EVP_PKEY_new_raw_private_key derives the public key (a base-point multiplication, as costly
  // as the DH itself); EVP_PKEY_fromdata skips that when it is given a public key. X25519 derive
  // reads only our private key and the peer's public key, and this key object is freed below
  // without ever being exported, so the placeholder is never read.
  static const uint8_t kUnusedPublic[X25519_KEY_SIZE] = {0};
  EVP_PKEY_CTX* import = ThreadX25519ImportCtx();
  EVP_PKEY* pkey = nullptr;
  OSSL_PARAM params[] = {
      OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PRIV_KEY, const_cast<uint8_t*>(priv), X25519_KEY_SIZE),
      OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY, const_cast<uint8_t*>(kUnusedPublic), X25519_KEY_SIZE),
      OSSL_PARAM_construct_end()};
  if (import == nullptr || EVP_PKEY_fromdata_init(import) != 1 || EVP_PKEY_fromdata(import, &pkey, EVP_PKEY_KEYPAIR, params) != 1) {
    ERR_clear_error();
    EVP_PKEY_free(pkey);
    OPENSSL_cleanse(out, X25519_KEY_SIZE);
    return false;
  }
  bool ok = DeriveX25519(pkey, peer, out);
  EVP_PKEY_free(pkey);  // cleanses OpenSSL's copy of the private key
  return ok;
}

bool HkdfSha256(const uint8_t* ikm, size_t ikm_len, const uint8_t* salt, size_t salt_len, const uint8_t* info,
                size_t info_len, uint8_t* out, size_t out_len) {
  if (out_len == 0 || out_len > HKDF_SHA256_MAX) return false;
  EVP_KDF* kdf = HkdfKdf();
  EVP_KDF_CTX* ctx = kdf != nullptr ? EVP_KDF_CTX_new(kdf) : nullptr;
  if (ctx == nullptr) return false;
  // OSSL_PARAM wants non-const pointers; OpenSSL copies, never writes. A zero-length octet
  // string still needs a valid pointer, hence `dummy`.
  uint8_t dummy = 0;
  auto bytes = [&dummy](const uint8_t* p, size_t n) { return n == 0 ? &dummy : const_cast<uint8_t*>(p); };
  char digest[] = "SHA256";
  OSSL_PARAM params[5];
  size_t n = 0;
  params[n++] = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, digest, 0);
  params[n++] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, bytes(ikm, ikm_len), ikm_len);
  params[n++] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, bytes(salt, salt_len), salt_len);
  if (info_len > 0) params[n++] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, const_cast<uint8_t*>(info), info_len);
  params[n] = OSSL_PARAM_construct_end();
  bool ok = EVP_KDF_derive(ctx, out, out_len, params) == 1;
  EVP_KDF_CTX_free(ctx);  // frees (and cleanses) OpenSSL's copies of ikm/salt/info
  if (!ok) {
    ERR_clear_error();
    OPENSSL_cleanse(out, out_len);
  }
  return ok;
}

bool HmacSha256(const uint8_t* key, size_t key_len, const uint8_t* data, size_t data_len, uint8_t out[SHA256_SIZE]) {
  static const uint8_t kZeroKey[SHA256_SIZE] = {0};
  EVP_MAC_CTX* ctx = ThreadHmacCtx();
  size_t len = 0;
  uint8_t empty = 0;
  // A null key would mean "the previous key" to EVP_MAC_init: an empty key is a valid pointer.
  bool ok = ctx != nullptr && EVP_MAC_init(ctx, key_len == 0 ? &empty : key, key_len, nullptr) == 1 &&
            EVP_MAC_update(ctx, data, data_len) == 1 && EVP_MAC_final(ctx, out, &len, SHA256_SIZE) == 1 && len == SHA256_SIZE;
  if (ctx != nullptr) EVP_MAC_init(ctx, kZeroKey, sizeof kZeroKey, nullptr);
  if (!ok) {
    ERR_clear_error();
    OPENSSL_cleanse(out, SHA256_SIZE);
  }
  return ok;
}

bool Sha256(const uint8_t* data, size_t data_len, uint8_t out[SHA256_SIZE]) {
  const EVP_MD* md = Sha256Md();
  unsigned int len = 0;
  bool ok = md != nullptr && EVP_Digest(data, data_len, out, &len, md, nullptr) == 1 && len == SHA256_SIZE;
  if (!ok) ERR_clear_error();
  return ok;
}

}  // namespace stt
