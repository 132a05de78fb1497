#include "handshake_crypto.h"

#include <cstring>
#include <memory>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/params.h>

namespace stt {

namespace {

// SHA-256, HMAC-SHA256 and HKDF-SHA256 run on EVP_MD_CTXs kept per thread and an EVP_MD fetched
// once per process. EVP_Digest*, EVP_MAC and EVP_KDF called fresh each time cost 1.5-3 us per call
// on this VM in provider dispatch, context allocation and name lookups, against ~0.1 us of hashing
// for the short inputs of a handshake (~30 calls each). The low-level SHA256_Init/Update/Final
// would be faster still but are deprecated in OpenSSL 3.0: a Node whose OpenSSL lacks them would
// fail at the first handshake (lazy binding), and OPENSSL_NO_DEPRECATED_3_0 would lose the addon.
// HMAC is RFC 2104 over the digest. Every context is re-initialized after use, so no key, pad
// state or intermediate hash stays in it.

constexpr size_t kSha256Block = 64;

// Fetched once (the implicit fetch of EVP_sha256() would happen on every EVP_DigestInit_ex2, and
// a context initialized with the same EVP_MD keeps its provider state instead of reallocating it).
// Kept for the life of the process.
const EVP_MD* Sha256Md() {
  static const EVP_MD* md = [] {
    const EVP_MD* fetched = EVP_MD_fetch(nullptr, "SHA256", nullptr);
    if (fetched == nullptr) {
      ERR_clear_error();
      fetched = EVP_sha256();
    }
    return fetched;
  }();
  return md;
}

// A thread's digest contexts: `work` for every hash, `inner`/`outer` for HMAC's keyed pad states
// when one key MACs several messages (HKDF expand). nullptr if OpenSSL cannot allocate them.
struct DigestContexts {
  EVP_MD_CTX* work = nullptr;
  EVP_MD_CTX* inner = nullptr;
  EVP_MD_CTX* outer = nullptr;
  ~DigestContexts() {
    EVP_MD_CTX_free(work);  // frees (and cleanses) the provider state
    EVP_MD_CTX_free(inner);
    EVP_MD_CTX_free(outer);
  }
};

DigestContexts* ThreadDigestContexts() {
  thread_local DigestContexts holder;
  if (holder.work == nullptr) {
    holder.work = EVP_MD_CTX_new();
    holder.inner = EVP_MD_CTX_new();
    holder.outer = EVP_MD_CTX_new();
    if (holder.work == nullptr || holder.inner == nullptr || holder.outer == nullptr) {
      EVP_MD_CTX_free(holder.work);
      EVP_MD_CTX_free(holder.inner);
      EVP_MD_CTX_free(holder.outer);
      holder.work = holder.inner = holder.outer = nullptr;
      ERR_clear_error();
      return nullptr;
    }
  }
  return &holder;
}

// Overwrites the context's hash state with the initial one (no allocation: the provider state is
// reused), so that nothing derived from a key or message is left in it.
void Wipe(EVP_MD_CTX* ctx) {
  if (EVP_DigestInit_ex2(ctx, Sha256Md(), nullptr) != 1) {
    EVP_MD_CTX_reset(ctx);  // frees the provider state, which OpenSSL cleanses
    ERR_clear_error();
  }
}

// SHA-256(a | b | c) into out on ctx; empty parts are skipped.
bool Hash3(EVP_MD_CTX* ctx, const uint8_t* a, size_t a_len, const uint8_t* b, size_t b_len, const uint8_t* c, size_t c_len,
           uint8_t out[SHA256_SIZE]) {
  unsigned int n = 0;
  return EVP_DigestInit_ex2(ctx, Sha256Md(), nullptr) == 1 && (a_len == 0 || EVP_DigestUpdate(ctx, a, a_len) == 1) &&
         (b_len == 0 || EVP_DigestUpdate(ctx, b, b_len) == 1) && (c_len == 0 || EVP_DigestUpdate(ctx, c, c_len) == 1) &&
         EVP_DigestFinal_ex(ctx, out, &n) == 1 && n == SHA256_SIZE;
}

// The HMAC key block K0 (RFC 2104: the key, hashed first when longer than a block, zero-padded)
// XORed with 0x36 (ipad) into `ipad` and with 0x5c (opad) into `opad`.
bool HmacPads(EVP_MD_CTX* work, const uint8_t* key, size_t key_len, uint8_t ipad[kSha256Block], uint8_t opad[kSha256Block]) {
  uint8_t k[kSha256Block] = {0};
  bool ok = true;
  if (key_len > kSha256Block) {
    ok = Hash3(work, key, key_len, nullptr, 0, nullptr, 0, k);
  } else if (key_len > 0) {
    memcpy(k, key, key_len);
  }
  for (size_t i = 0; i < kSha256Block; i++) {
    ipad[i] = k[i] ^ 0x36;
    opad[i] = k[i] ^ 0x5c;
  }
  OPENSSL_cleanse(k, sizeof k);
  return ok;
}

// HMAC(key, a | b | c) for a key used once: hashes the pads directly (cheaper than keeping
// keyed pad states, which costs a context copy per use). `out` may alias the message.
bool HmacOnce(DigestContexts* d, const uint8_t* key, size_t key_len, const uint8_t* a, size_t a_len, const uint8_t* b,
              size_t b_len, const uint8_t* c, size_t c_len, uint8_t out[SHA256_SIZE]) {
  uint8_t ipad[kSha256Block], opad[kSha256Block], inner_hash[SHA256_SIZE];
  unsigned int n = 0;
  bool ok = HmacPads(d->work, key, key_len, ipad, opad) && EVP_DigestInit_ex2(d->work, Sha256Md(), nullptr) == 1 &&
            EVP_DigestUpdate(d->work, ipad, kSha256Block) == 1 && (a_len == 0 || EVP_DigestUpdate(d->work, a, a_len) == 1) &&
            (b_len == 0 || EVP_DigestUpdate(d->work, b, b_len) == 1) && (c_len == 0 || EVP_DigestUpdate(d->work, c, c_len) == 1) &&
            EVP_DigestFinal_ex(d->work, inner_hash, &n) == 1 &&
            Hash3(d->work, opad, kSha256Block, inner_hash, SHA256_SIZE, nullptr, 0, out);
  Wipe(d->work);
  OPENSSL_cleanse(ipad, sizeof ipad);
  OPENSSL_cleanse(opad, sizeof opad);
  OPENSSL_cleanse(inner_hash, sizeof inner_hash);
  return ok;
}

// HMAC with one key over several messages (HKDF expand): the keyed inner and outer states are
// computed once into d->inner/d->outer and copied into d->work per message. KeyedHmac's
// destructor wipes all three.
class KeyedHmac {
 public:
  KeyedHmac(DigestContexts* d, const uint8_t* key, size_t key_len) : d_(d) {
    uint8_t ipad[kSha256Block], opad[kSha256Block];
    ok_ = HmacPads(d->work, key, key_len, ipad, opad) && EVP_DigestInit_ex2(d->inner, Sha256Md(), nullptr) == 1 &&
          EVP_DigestUpdate(d->inner, ipad, kSha256Block) == 1 && EVP_DigestInit_ex2(d->outer, Sha256Md(), nullptr) == 1 &&
          EVP_DigestUpdate(d->outer, opad, kSha256Block) == 1;
    OPENSSL_cleanse(ipad, sizeof ipad);
    OPENSSL_cleanse(opad, sizeof opad);
  }
  ~KeyedHmac() {
    Wipe(d_->work);
    Wipe(d_->inner);
    Wipe(d_->outer);
  }
  KeyedHmac(const KeyedHmac&) = delete;
  KeyedHmac& operator=(const KeyedHmac&) = delete;

  // HMAC(key, a | b | c) into out; empty parts are skipped. `out` may alias a part.
  bool Mac(const uint8_t* a, size_t a_len, const uint8_t* b, size_t b_len, const uint8_t* c, size_t c_len, uint8_t out[SHA256_SIZE]) {
    uint8_t inner_hash[SHA256_SIZE];
    unsigned int n = 0;
    EVP_MD_CTX* w = d_->work;
    ok_ = ok_ && EVP_MD_CTX_copy_ex(w, d_->inner) == 1 && (a_len == 0 || EVP_DigestUpdate(w, a, a_len) == 1) &&
          (b_len == 0 || EVP_DigestUpdate(w, b, b_len) == 1) && (c_len == 0 || EVP_DigestUpdate(w, c, c_len) == 1) &&
          EVP_DigestFinal_ex(w, inner_hash, &n) == 1 && EVP_MD_CTX_copy_ex(w, d_->outer) == 1 &&
          EVP_DigestUpdate(w, inner_hash, SHA256_SIZE) == 1 && EVP_DigestFinal_ex(w, out, &n) == 1;
    OPENSSL_cleanse(inner_hash, sizeof inner_hash);
    return ok_;
  }

 private:
  DigestContexts* d_;
  bool ok_;
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
// (priv, and pub unless nullptr: OpenSSL then derives it from priv). nullptr if OpenSSL fails.
EVP_PKEY* ImportX25519(int selection, const uint8_t* priv, const uint8_t* pub) {
  EVP_PKEY_CTX* import = ThreadX25519ImportCtx();
  EVP_PKEY* pkey = nullptr;
  OSSL_PARAM params[3];
  size_t n = 0;
  if (priv != nullptr)
    params[n++] = OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PRIV_KEY, const_cast<uint8_t*>(priv), X25519_KEY_SIZE);
  if (pub != nullptr)
    params[n++] = OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY, const_cast<uint8_t*>(pub), X25519_KEY_SIZE);
  params[n] = OSSL_PARAM_construct_end();
  if (import == nullptr || EVP_PKEY_fromdata_init(import) != 1 || EVP_PKEY_fromdata(import, &pkey, selection, params) != 1) {
    ERR_clear_error();
    EVP_PKEY_free(pkey);
    return nullptr;
  }
  return pkey;
}

// True when OpenSSL holds the key's public half (a key pair imported from its private key alone).
bool HasRawPublicKey(const EVP_PKEY* pkey) {
  uint8_t pub[X25519_KEY_SIZE];
  size_t len = sizeof pub;
  bool ok = EVP_PKEY_get_raw_public_key(pkey, pub, &len) == 1 && len == X25519_KEY_SIZE;
  if (!ok) ERR_clear_error();
  return ok;
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
  // Imported on the thread's import context, which derives the public key from the private one:
  // EVP_PKEY_new_raw_private_key makes a context per call, and a new context walks OpenSSL's
  // name map to find the key type's legacy NID (int_ctx_new), one walk per ephemeral key.
  EVP_PKEY* pkey = ImportX25519(EVP_PKEY_KEYPAIR, priv, nullptr);
  // Should an OpenSSL not derive the public key on import: the import that always does.
  if (pkey != nullptr && !HasRawPublicKey(pkey)) {
    EVP_PKEY_free(pkey);
    pkey = nullptr;
  }
  if (pkey == nullptr) pkey = EVP_PKEY_new_raw_private_key(EVP_PKEY_X25519, nullptr, priv, X25519_KEY_SIZE);
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

bool X25519Key::Dh(const uint8_t peer[X25519_KEY_SIZE], uint8_t out[X25519_KEY_SIZE]) {
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
  // Should an OpenSSL ever check the pair on import and refuse the placeholder: the slower import
  // that derives the real public key.
  if (pkey == nullptr) {
    pkey = EVP_PKEY_new_raw_private_key(EVP_PKEY_X25519, nullptr, priv, X25519_KEY_SIZE);
    if (pkey == nullptr) ERR_clear_error();
  }
  EVP_PKEY_CTX* ctx = pkey != nullptr ? NewDeriveCtx(pkey) : nullptr;
  bool ok = ctx != nullptr && DeriveX25519(ctx, peer, out);
  if (ctx == nullptr) OPENSSL_cleanse(out, X25519_KEY_SIZE);
  EVP_PKEY_CTX_free(ctx);
  EVP_PKEY_free(pkey);  // cleanses OpenSSL's copy of the private key
  return ok;
}

bool X25519Ephemeral(const uint8_t priv[X25519_KEY_SIZE], const uint8_t peer[X25519_KEY_SIZE], uint8_t pub[X25519_KEY_SIZE],
                     uint8_t out[X25519_KEY_SIZE]) {
  // The same import, export and derive as X25519Key::Create, PublicKey and Dh; the key and its
  // derive context are freed (the private key cleansed) before returning.
  std::unique_ptr<X25519Key> key(X25519Key::Create(priv));
  bool ok = key != nullptr && key->PublicKey(pub) && key->Dh(peer, out);
  if (!ok) OPENSSL_cleanse(out, X25519_KEY_SIZE);
  return ok;
}

bool HkdfSha256(const uint8_t* ikm, size_t ikm_len, const uint8_t* salt, size_t salt_len, const uint8_t* info,
                size_t info_len, uint8_t* out, size_t out_len) {
  if (out_len == 0 || out_len > HKDF_SHA256_MAX) return false;
  DigestContexts* d = ThreadDigestContexts();
  if (d == nullptr) {
    OPENSSL_cleanse(out, out_len);
    return false;
  }
  // Extract: PRK = HMAC(salt, IKM). An empty salt is an empty HMAC key, which HMAC pads to the
  // same block as RFC 5869's HashLen zeros.
  uint8_t prk[SHA256_SIZE];
  bool ok = HmacOnce(d, salt, salt_len, ikm, ikm_len, nullptr, 0, nullptr, 0, prk);
  // Expand: T(i) = HMAC(PRK, T(i-1) | info | i); out = T(1) | T(2) | ..., truncated.
  uint8_t block[SHA256_SIZE];
  if (ok && out_len <= SHA256_SIZE) {
    // One block: PRK is used once, so its pad states are not worth keeping.
    const uint8_t c = 1;
    ok = HmacOnce(d, prk, SHA256_SIZE, info, info_len, &c, 1, nullptr, 0, block);
    if (ok) memcpy(out, block, out_len);
  } else if (ok) {
    KeyedHmac expand(d, prk, SHA256_SIZE);
    size_t done = 0;
    for (unsigned counter = 1; ok && done < out_len; counter++) {
      const uint8_t c = static_cast<uint8_t>(counter);
      ok = expand.Mac(block, done == 0 ? 0 : SHA256_SIZE, info, info_len, &c, 1, block);
      size_t n = out_len - done < SHA256_SIZE ? out_len - done : SHA256_SIZE;
      memcpy(out + done, block, n);
      done += n;
    }
  }
  OPENSSL_cleanse(prk, sizeof prk);
  OPENSSL_cleanse(block, sizeof block);
  if (!ok) {
    ERR_clear_error();
    OPENSSL_cleanse(out, out_len);
  }
  return ok;
}

bool HmacSha256(const uint8_t* key, size_t key_len, const uint8_t* data, size_t data_len, uint8_t out[SHA256_SIZE]) {
  DigestContexts* d = ThreadDigestContexts();
  bool ok = d != nullptr && HmacOnce(d, key, key_len, data, data_len, nullptr, 0, nullptr, 0, out);
  if (!ok) ERR_clear_error();
  return ok;
}

bool Sha256(const uint8_t* data, size_t data_len, uint8_t out[SHA256_SIZE]) {
  DigestContexts* d = ThreadDigestContexts();
  // The work context holds only the (public) message's hash state; it is wiped anyway, as the
  // message may be secret to some caller.
  bool ok = d != nullptr && Hash3(d->work, data, data_len, nullptr, 0, nullptr, 0, out);
  if (d != nullptr) Wipe(d->work);
  if (!ok) ERR_clear_error();
  return ok;
}

bool Sha3_256(const uint8_t* data, size_t data_len, uint8_t out[SHA3_256_SIZE]) {
  // Fetched once and kept for the process, like Sha256Md; nullptr if this OpenSSL lacks SHA3.
  static const EVP_MD* md = [] {
    const EVP_MD* fetched = EVP_MD_fetch(nullptr, "SHA3-256", nullptr);
    if (fetched == nullptr) ERR_clear_error();
    return fetched;
  }();
  struct Holder {
    EVP_MD_CTX* ctx = nullptr;
    ~Holder() { EVP_MD_CTX_free(ctx); }
  };
  thread_local Holder holder;
  if (holder.ctx == nullptr) holder.ctx = EVP_MD_CTX_new();
  unsigned int n = 0;
  bool ok = md != nullptr && holder.ctx != nullptr && EVP_DigestInit_ex2(holder.ctx, md, nullptr) == 1 &&
            (data_len == 0 || EVP_DigestUpdate(holder.ctx, data, data_len) == 1) && EVP_DigestFinal_ex(holder.ctx, out, &n) == 1 &&
            n == SHA3_256_SIZE;
  // Nothing of the message stays in the context (a re-init overwrites its state).
  if (holder.ctx != nullptr && (md == nullptr || EVP_DigestInit_ex2(holder.ctx, md, nullptr) != 1)) EVP_MD_CTX_reset(holder.ctx);
  if (!ok) {
    ERR_clear_error();
    OPENSSL_cleanse(out, SHA3_256_SIZE);
  }
  return ok;
}

}  // namespace stt
