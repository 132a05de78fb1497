// SHA256_Init/Update/Final are deprecated in OpenSSL 3.0 but exported; see HmacKey below.
#define OPENSSL_SUPPRESS_DEPRECATED

#include "handshake_crypto.h"

#include <cstring>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <openssl/sha.h>

namespace stt {

namespace {

// SHA-256, HMAC-SHA256 and HKDF-SHA256 run on OpenSSL's low-level SHA256_CTX (deprecated in 3.0,
// still exported by every Node build, and plain functions in BoringSSL): the EVP_MD/EVP_MAC/EVP_KDF
// paths cost 0.5-3 us per call on this VM in provider dispatch, context allocation and name
// lookups, against ~0.1 us of hashing for the short inputs of a handshake (~30 calls each).
// HMAC is RFC 2104 over it: the key's inner and outer states are computed once per key (HKDF's
// expand reuses them for every block) and wiped after use.
struct HmacKey {
  SHA256_CTX inner;
  SHA256_CTX outer;

  HmacKey(const uint8_t* key, size_t key_len) {
    constexpr size_t kBlock = SHA256_CBLOCK;  // 64
    uint8_t k[kBlock] = {0};
    if (key_len > kBlock) {
      SHA256_CTX c;
      SHA256_Init(&c);
      SHA256_Update(&c, key, key_len);
      SHA256_Final(k, &c);
      OPENSSL_cleanse(&c, sizeof c);
    } else if (key_len > 0) {
      memcpy(k, key, key_len);
    }
    uint8_t pad[kBlock];
    for (size_t i = 0; i < kBlock; i++) pad[i] = k[i] ^ 0x36;
    SHA256_Init(&inner);
    SHA256_Update(&inner, pad, kBlock);
    for (size_t i = 0; i < kBlock; i++) pad[i] = k[i] ^ 0x5c;
    SHA256_Init(&outer);
    SHA256_Update(&outer, pad, kBlock);
    OPENSSL_cleanse(k, sizeof k);
    OPENSSL_cleanse(pad, sizeof pad);
  }
  ~HmacKey() {
    OPENSSL_cleanse(&inner, sizeof inner);
    OPENSSL_cleanse(&outer, sizeof outer);
  }
  HmacKey(const HmacKey&) = delete;
  HmacKey& operator=(const HmacKey&) = delete;

  // HMAC(key, a | b | c) into out; empty parts are skipped.
  void Mac(const uint8_t* a, size_t a_len, const uint8_t* b, size_t b_len, const uint8_t* c, size_t c_len,
           uint8_t out[SHA256_SIZE]) const {
    SHA256_CTX ctx = inner;
    if (a_len > 0) SHA256_Update(&ctx, a, a_len);
    if (b_len > 0) SHA256_Update(&ctx, b, b_len);
    if (c_len > 0) SHA256_Update(&ctx, c, c_len);
    uint8_t inner_hash[SHA256_SIZE];
    SHA256_Final(inner_hash, &ctx);
    ctx = outer;
    SHA256_Update(&ctx, inner_hash, SHA256_SIZE);
    SHA256_Final(out, &ctx);
    OPENSSL_cleanse(&ctx, sizeof ctx);
    OPENSSL_cleanse(inner_hash, sizeof inner_hash);
  }
};

// One EVP_PKEY_CTX per thread for importing X25519 keys with EVP_PKEY_fromdata (the peer's
// public key of every DH, X25519Once's private key): EVP_PKEY_new_raw_public_key made a context
// per call, looking the key manager up by name (OpenSSL 3.0 walks its whole name map for that).
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

// An X25519 key from raw bytes: selection EVP_PKEY_PUBLIC_KEY (pub only) or EVP_PKEY_KEYPAIR
// (priv and pub). nullptr if OpenSSL fails.
EVP_PKEY* ImportX25519(int selection, const uint8_t* priv, const uint8_t pub[X25519_KEY_SIZE]) {
  EVP_PKEY_CTX* import = ThreadX25519ImportCtx();
  EVP_PKEY* pkey = nullptr;
  OSSL_PARAM params[3];
  size_t n = 0;
  if (priv != nullptr)
    params[n++] = OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PRIV_KEY, const_cast<uint8_t*>(priv), X25519_KEY_SIZE);
  params[n++] = OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY, const_cast<uint8_t*>(pub), X25519_KEY_SIZE);
  params[n] = OSSL_PARAM_construct_end();
  if (import == nullptr || EVP_PKEY_fromdata_init(import) != 1 || EVP_PKEY_fromdata(import, &pkey, selection, params) != 1) {
    ERR_clear_error();
    EVP_PKEY_free(pkey);
    return nullptr;
  }
  return pkey;
}

// A context ready to derive with `ours` (EVP_PKEY_derive_init done), or nullptr.
EVP_PKEY_CTX* NewDeriveCtx(EVP_PKEY* ours) {
  EVP_PKEY_CTX* ctx = EVP_PKEY_CTX_new_from_pkey(nullptr, ours, nullptr);
  if (ctx == nullptr || EVP_PKEY_derive_init(ctx) != 1) {
    EVP_PKEY_CTX_free(ctx);
    ERR_clear_error();
    return nullptr;
  }
  return ctx;
}

// X25519(the derive context's key, peer) into out. false when OpenSSL fails or the result is
// all zero; out is then zeroed.
bool DeriveX25519(EVP_PKEY_CTX* ctx, const uint8_t peer[X25519_KEY_SIZE], uint8_t out[X25519_KEY_SIZE]) {
  EVP_PKEY* peer_key = ctx != nullptr ? ImportX25519(EVP_PKEY_PUBLIC_KEY, nullptr, peer) : nullptr;
  size_t len = X25519_KEY_SIZE;
  // validate_peer = 0: an X25519 public key is any 32 bytes (RFC 7748); the check that matters,
  // a non-zero result, is done below for every key.
  bool ok = peer_key != nullptr && EVP_PKEY_derive_set_peer_ex(ctx, peer_key, 0) == 1 && EVP_PKEY_derive(ctx, out, &len) == 1 &&
            len == X25519_KEY_SIZE;
  EVP_PKEY_free(peer_key);  // the context keeps its own reference until the next peer is set
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

X25519Key::~X25519Key() {
  EVP_PKEY_CTX_free(derive_);
  EVP_PKEY_free(pkey_);
}

bool X25519Key::PublicKey(uint8_t out[X25519_KEY_SIZE]) const {
  size_t len = X25519_KEY_SIZE;
  bool ok = EVP_PKEY_get_raw_public_key(pkey_, out, &len) == 1 && len == X25519_KEY_SIZE;
  if (!ok) ERR_clear_error();
  return ok;
}

bool X25519Key::Dh(const uint8_t peer[X25519_KEY_SIZE], uint8_t out[X25519_KEY_SIZE]) const {
  // The derive context is made on the first DH and kept: the static key derives once per
  // handshake, an initiator's ephemeral key twice.
  if (derive_ == nullptr) derive_ = NewDeriveCtx(pkey_);
  if (derive_ == nullptr) {
    OPENSSL_cleanse(out, X25519_KEY_SIZE);
    return false;
  }
  return DeriveX25519(derive_, peer, out);
}

bool X25519Once(const uint8_t priv[X25519_KEY_SIZE], const uint8_t peer[X25519_KEY_SIZE], uint8_t out[X25519_KEY_SIZE]) {
  // EVP_PKEY_new_raw_private_key derives the public key (a base-point multiplication, as costly
  // as the DH itself); EVP_PKEY_fromdata skips that when it is given a public key. X25519 derive
  // reads only our private key and the peer's public key, and this key object is freed below
  // without ever being exported, so the placeholder is never read.
  static const uint8_t kUnusedPublic[X25519_KEY_SIZE] = {0};
  EVP_PKEY* pkey = ImportX25519(EVP_PKEY_KEYPAIR, priv, kUnusedPublic);
  EVP_PKEY_CTX* ctx = pkey != nullptr ? NewDeriveCtx(pkey) : nullptr;
  bool ok = ctx != nullptr && DeriveX25519(ctx, peer, out);
  if (ctx == nullptr) OPENSSL_cleanse(out, X25519_KEY_SIZE);
  EVP_PKEY_CTX_free(ctx);
  EVP_PKEY_free(pkey);  // cleanses OpenSSL's copy of the private key
  return ok;
}

bool HkdfSha256(const uint8_t* ikm, size_t ikm_len, const uint8_t* salt, size_t salt_len, const uint8_t* info,
                size_t info_len, uint8_t* out, size_t out_len) {
  if (out_len == 0 || out_len > HKDF_SHA256_MAX) return false;
  // Extract: PRK = HMAC(salt, IKM). An empty salt is an empty HMAC key, which HMAC pads to the
  // same block as RFC 5869's HashLen zeros.
  uint8_t prk[SHA256_SIZE];
  HmacKey(salt, salt_len).Mac(ikm, ikm_len, nullptr, 0, nullptr, 0, prk);
  // Expand: T(i) = HMAC(PRK, T(i-1) | info | i); out = T(1) | T(2) | ..., truncated.
  HmacKey expand(prk, SHA256_SIZE);
  OPENSSL_cleanse(prk, sizeof prk);
  uint8_t block[SHA256_SIZE];
  size_t done = 0;
  for (unsigned counter = 1; done < out_len; counter++) {
    const uint8_t c = static_cast<uint8_t>(counter);
    expand.Mac(block, done == 0 ? 0 : SHA256_SIZE, info, info_len, &c, 1, block);
    size_t n = out_len - done < SHA256_SIZE ? out_len - done : SHA256_SIZE;
    memcpy(out + done, block, n);
    done += n;
  }
  OPENSSL_cleanse(block, sizeof block);
  return true;
}

bool HmacSha256(const uint8_t* key, size_t key_len, const uint8_t* data, size_t data_len, uint8_t out[SHA256_SIZE]) {
  HmacKey(key, key_len).Mac(data, data_len, nullptr, 0, nullptr, 0, out);
  return true;
}

bool Sha256(const uint8_t* data, size_t data_len, uint8_t out[SHA256_SIZE]) {
  SHA256_CTX ctx;
  SHA256_Init(&ctx);
  SHA256_Update(&ctx, data, data_len);
  SHA256_Final(out, &ctx);
  OPENSSL_cleanse(&ctx, sizeof ctx);
  return true;
}

}  // namespace stt
