#include "aead.h"

#include <openssl/core_dispatch.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/params.h>
#include <openssl/provider.h>
#include <strings.h>

#include <cstdlib>
#include <cstring>
#include <new>

#include "common.h"

namespace stt {

// A provider's cipher, fetched once per process and kept for its life. EVP_aes_256_gcm() and
// EVP_chacha20_poly1305() are legacy descriptors: OpenSSL 3.0 fetches the provider's cipher by
// name (OBJ_nid2sn, name map, method store) on every EVP_CipherInit_ex given one, i.e. for every
// packet key context (a session's first packet each way). nullptr fetch: the legacy descriptor.
// Fetched under the default properties in force at the first packet key: a later
// crypto.setFips(true) does not re-fetch it (as Sha256Md() already behaves; review 67, LOW).
static const EVP_CIPHER* Fetched(const char* name, const EVP_CIPHER* legacy) {
  EVP_CIPHER* fetched = EVP_CIPHER_fetch(nullptr, name, nullptr);
  if (fetched == nullptr) {
    ERR_clear_error();
    return legacy;
  }
  return fetched;
}

static const EVP_CIPHER* CipherFor(uint32_t suite) {
  switch (suite) {
    case SUITE_AES_256_GCM: {
      static const EVP_CIPHER* aes = Fetched("AES-256-GCM", EVP_aes_256_gcm());
      return aes;
    }
    case SUITE_CHACHA20_POLY1305: {
      static const EVP_CIPHER* chacha = Fetched("ChaCha20-Poly1305", EVP_chacha20_poly1305());
      return chacha;
    }
    default:
      return nullptr;
  }
}

// The provider's own functions behind a fetched cipher. Per packet, OpenSSL 3.0's EVP layer
// wraps each of them in parameter plumbing that costs more than the 64-byte seal itself: the
// IV's re-init asks the provider for the IV length through get_ctx_params (an OSSL_PARAM array
// scanned by name, ~8 OSSL_PARAM_locate + strcmp per call), and the tag get/set is a ctrl turned
// into one more such params call. Callgrind of a 64-byte ping-pong (issue 13): ~2.9 k
// instructions per seal, of which under 1 k is AES-GCM. Calling the provider's init with the
// IV, update, final and one prebuilt tag parameter is the same sequence of provider calls the
// EVP functions make (EVP_EncryptInit_ex with only an IV = einit(ctx, NULL, 0, iv, ivlen, NULL);
// EVP_EncryptUpdate = update; EVP_CTRL_AEAD_GET_TAG / SET_TAG = get/set_ctx_params with the
// tag octet string), on the same provider, so keys, nonces and bytes are unchanged; only the
// EVP bookkeeping around them is skipped. Used only for OpenSSL's own providers and after a
// self-test (ResolveProviderAead); anything else gets EVP.
struct ProviderAead {
  void* provctx = nullptr;
  OSSL_FUNC_cipher_newctx_fn* newctx = nullptr;
  OSSL_FUNC_cipher_freectx_fn* freectx = nullptr;
  OSSL_FUNC_cipher_encrypt_init_fn* einit = nullptr;
  OSSL_FUNC_cipher_decrypt_init_fn* dinit = nullptr;
  OSSL_FUNC_cipher_update_fn* update = nullptr;
  OSSL_FUNC_cipher_final_fn* final = nullptr;
  OSSL_FUNC_cipher_get_ctx_params_fn* get_ctx_params = nullptr;
  OSSL_FUNC_cipher_set_ctx_params_fn* set_ctx_params = nullptr;
};

bool AeadForcedToEvp() {
  // Read once per process; InitAead calls this at the addon's load, so the value in force then
  // is the one that counts (a test or an operator ruling the direct path out, review of 9207d31).
  static const bool forced = [] {
    const char* v = std::getenv("STT_NATIVE_AEAD_EVP");
    return v != nullptr && std::strcmp(v, "1") == 0;
  }();
  return forced;
}

// A provider context keyed for one direction, IV length 12 (both suites' default; set so a
// changed default cannot bite, as KeyedContext does); nullptr if the provider refuses.
static void* ProviderKeyedContext(const ProviderAead* p, const uint8_t* key, int enc) {
  void* ctx = p->newctx(p->provctx);
  if (ctx == nullptr) return nullptr;
  size_t iv_len = IV_SIZE;
  OSSL_PARAM iv_len_param[2] = {OSSL_PARAM_construct_size_t(OSSL_CIPHER_PARAM_AEAD_IVLEN, &iv_len), OSSL_PARAM_END};
  const bool ok = p->set_ctx_params(ctx, iv_len_param) == 1 &&
                  (enc ? p->einit(ctx, key, KEY_SIZE, nullptr, 0, nullptr) : p->dinit(ctx, key, KEY_SIZE, nullptr, 0, nullptr)) == 1;
  if (!ok) {
    p->freectx(ctx);
    return nullptr;
  }
  return ctx;
}

// Seal/open one packet on a provider context: the same provider calls in the same order as
// SealWith / OpenWith make through EVP (see ProviderAead), without EVP's parameter round trips.
// update's output size is what EVP passes for these stream-like AEADs (block size 1, checked in
// ResolveProviderAead): the input length; it must write exactly that, and final nothing.
static bool ProviderSealWith(const ProviderAead* p, void* seal, const uint8_t* nonce, const uint8_t* aad, size_t aad_len,
                             uint8_t* data, size_t len, uint8_t* tag_out) {
  size_t n = 0;
  uint8_t scratch[16];
  OSSL_PARAM tag_param[2] = {OSSL_PARAM_construct_octet_string(OSSL_CIPHER_PARAM_AEAD_TAG, tag_out, TAG_SIZE),
                             OSSL_PARAM_END};
  bool ok = p->einit(seal, nullptr, 0, nonce, IV_SIZE, nullptr) == 1 &&
            (aad_len == 0 || p->update(seal, nullptr, &n, aad_len, aad, aad_len) == 1) &&
            (len == 0 || (p->update(seal, data, &n, len, data, len) == 1 && n == len)) &&
            p->final(seal, scratch, &n, 0) == 1 && n == 0 && p->get_ctx_params(seal, tag_param) == 1;
  if (!ok) ERR_clear_error();
  return ok;
}

static bool ProviderOpenWith(const ProviderAead* p, void* open, const uint8_t* nonce, const uint8_t* aad, size_t aad_len,
                             uint8_t* data, size_t len, const uint8_t* tag) {
  size_t n = 0;
  uint8_t scratch[16];
  // OSSL_PARAM takes a non-const pointer; the provider only reads the tag (copied, as OpenWith does).
  uint8_t tag_copy[TAG_SIZE];
  std::memcpy(tag_copy, tag, TAG_SIZE);
  OSSL_PARAM tag_param[2] = {OSSL_PARAM_construct_octet_string(OSSL_CIPHER_PARAM_AEAD_TAG, tag_copy, TAG_SIZE),
                             OSSL_PARAM_END};
  bool ok = p->dinit(open, nullptr, 0, nonce, IV_SIZE, nullptr) == 1 && p->set_ctx_params(open, tag_param) == 1 &&
            (aad_len == 0 || p->update(open, nullptr, &n, aad_len, aad, aad_len) == 1) &&
            (len == 0 || (p->update(open, data, &n, len, data, len) == 1 && n == len)) &&
            p->final(open, scratch, &n, 0) == 1 && n == 0;
  // As OpenWith: a forged packet leaves nothing on OpenSSL's per-thread error queue.
  if (!ok) ERR_clear_error();
  return ok;
}

// The known answer of ProviderSelfTest: key[i] = 7i + 1, nonce[i] = 0xa0 + i, aad (21 bytes)
// [i] = 0x10 + i, message (37 bytes: not a multiple of the 16-byte GCM/Poly1305 blocks)[i] =
// 0x61 + 3i, sealed by node:crypto (createCipheriv, i.e. EVP).
constexpr size_t kSelfTestAadSize = 21;
constexpr size_t kSelfTestMsgSize = 37;
struct KnownAnswer {
  uint8_t ct[kSelfTestMsgSize];
  uint8_t tag[TAG_SIZE];
};
static const KnownAnswer kAesGcmAnswer = {
    {0x30, 0x1b, 0x80, 0xfa, 0xca, 0xf4, 0x68, 0xdb, 0x6f, 0xd5, 0x44, 0x95, 0x5f, 0x5c, 0x13, 0x9f, 0x14, 0x0d, 0x2b,
     0xaf, 0x0b, 0xf3, 0xba, 0x39, 0xc3, 0xff, 0x37, 0x17, 0xf7, 0x26, 0xbe, 0x78, 0xe7, 0xca, 0xec, 0xa4, 0x21},
    {0x5b, 0xb3, 0x21, 0x81, 0x6d, 0xb5, 0x61, 0xbe, 0x35, 0x6d, 0xa6, 0x37, 0xf1, 0x8d, 0x5d, 0x01}};
static const KnownAnswer kChaChaPolyAnswer = {
    {0x10, 0xff, 0xe3, 0xc0, 0x4f, 0xea, 0xaf, 0xfb, 0xa6, 0x85, 0x7a, 0x0a, 0x1b, 0x89, 0x35, 0x89, 0xcc, 0x44, 0xa0,
     0xa2, 0x5d, 0x5a, 0x95, 0x6e, 0xc6, 0xc1, 0x39, 0xd6, 0x17, 0x66, 0xf7, 0x12, 0x49, 0x51, 0x33, 0x4e, 0x0a},
    {0xd5, 0xfc, 0xf1, 0x0c, 0xf1, 0xe4, 0xeb, 0x9d, 0x36, 0x2e, 0xc6, 0x31, 0x42, 0x8d, 0x0d, 0xaa}};

// One-time check that the direct calls give the suite's bytes: a known-answer seal (twice on
// one context: per packet only the IV is re-set), its open, a forged tag that must not open,
// and the genuine packet opening again on the context the forgery failed on (as a receive key
// goes on after one). Any miss: EVP for the process's life.
static bool ProviderSelfTest(const ProviderAead* p, uint32_t suite) {
  const KnownAnswer& want = suite == SUITE_AES_256_GCM ? kAesGcmAnswer : kChaChaPolyAnswer;
  uint8_t key[KEY_SIZE], nonce[IV_SIZE], aad[kSelfTestAadSize], msg[kSelfTestMsgSize];
  for (size_t i = 0; i < sizeof key; i++) key[i] = static_cast<uint8_t>(7 * i + 1);
  for (size_t i = 0; i < sizeof nonce; i++) nonce[i] = static_cast<uint8_t>(0xa0 + i);
  for (size_t i = 0; i < sizeof aad; i++) aad[i] = static_cast<uint8_t>(0x10 + i);
  for (size_t i = 0; i < sizeof msg; i++) msg[i] = static_cast<uint8_t>(0x61 + 3 * i);
  void* seal = ProviderKeyedContext(p, key, 1);
  void* open = ProviderKeyedContext(p, key, 0);
  bool ok = seal != nullptr && open != nullptr;
  uint8_t data[kSelfTestMsgSize], tag[TAG_SIZE];
  for (int round = 0; ok && round < 2; round++) {
    std::memcpy(data, msg, sizeof data);
    ok = ProviderSealWith(p, seal, nonce, aad, sizeof aad, data, sizeof data, tag) &&
         std::memcmp(data, want.ct, sizeof data) == 0 && std::memcmp(tag, want.tag, sizeof tag) == 0;
  }
  uint8_t forged[TAG_SIZE];
  std::memcpy(forged, want.tag, sizeof forged);
  forged[TAG_SIZE - 1] ^= 0x01;
  // Opens the known ciphertext under `tag`; true when it authenticated and gave the message.
  auto opens = [&](const uint8_t* tag) {
    std::memcpy(data, want.ct, sizeof data);
    return ProviderOpenWith(p, open, nonce, aad, sizeof aad, data, sizeof data, tag) &&
           std::memcmp(data, msg, sizeof data) == 0;
  };
  ok = ok && opens(want.tag) && !opens(forged) && opens(want.tag);
  if (seal != nullptr) p->freectx(seal);
  if (open != nullptr) p->freectx(open);
  ERR_clear_error();
  return ok;
}

// True when the first of the colon-separated `names` is `name` (OpenSSL names are case-insensitive;
// a fetched cipher's name is its algorithm's first name).
static bool FirstNameIs(const char* names, const char* name) {
  const char* end = std::strchr(names, ':');
  const size_t len = end == nullptr ? std::strlen(names) : static_cast<size_t>(end - names);
  return len == std::strlen(name) && strncasecmp(names, name, len) == 0;
}

// The functions of the provider implementation that `cipher` was fetched from, or nullptr, and
// then EVP is used: STT_NATIVE_AEAD_EVP=1; a legacy descriptor; a provider other than OpenSSL's
// own "default" or "fips" (whose calling conventions the direct calls were written against); a
// cipher whose block, IV or key size is not the suite's (update's output size assumes a stream
// cipher); a provider without such a table, or more than one implementation of that name in it
// (no way to tell which one the fetch chose); or a failed self-test.
static const ProviderAead* ResolveProviderAead(const EVP_CIPHER* cipher, uint32_t suite) {
  if (AeadForcedToEvp() || cipher == nullptr) return nullptr;
  const OSSL_PROVIDER* prov = EVP_CIPHER_get0_provider(cipher);
  const char* name = EVP_CIPHER_get0_name(cipher);
  const char* prov_name = prov == nullptr ? nullptr : OSSL_PROVIDER_get0_name(prov);
  if (name == nullptr || prov_name == nullptr ||
      (std::strcmp(prov_name, "default") != 0 && std::strcmp(prov_name, "fips") != 0) ||
      EVP_CIPHER_get_block_size(cipher) != 1 || EVP_CIPHER_get_iv_length(cipher) != static_cast<int>(IV_SIZE) ||
      EVP_CIPHER_get_key_length(cipher) != static_cast<int>(KEY_SIZE)) {
    ERR_clear_error();
    return nullptr;
  }
  int no_cache = 0;
  const OSSL_ALGORITHM* algorithms = OSSL_PROVIDER_query_operation(prov, OSSL_OP_CIPHER, &no_cache);
  const OSSL_DISPATCH* table = nullptr;
  int matches = 0;
  for (const OSSL_ALGORITHM* a = algorithms; a != nullptr && a->algorithm_names != nullptr; a++) {
    if (FirstNameIs(a->algorithm_names, name)) {
      table = a->implementation;
      matches++;
    }
  }
  ProviderAead p;
  for (const OSSL_DISPATCH* f = matches == 1 ? table : nullptr; f != nullptr && f->function_id != 0; f++) {
    switch (f->function_id) {
      case OSSL_FUNC_CIPHER_NEWCTX: p.newctx = OSSL_FUNC_cipher_newctx(f); break;
      case OSSL_FUNC_CIPHER_FREECTX: p.freectx = OSSL_FUNC_cipher_freectx(f); break;
      case OSSL_FUNC_CIPHER_ENCRYPT_INIT: p.einit = OSSL_FUNC_cipher_encrypt_init(f); break;
      case OSSL_FUNC_CIPHER_DECRYPT_INIT: p.dinit = OSSL_FUNC_cipher_decrypt_init(f); break;
      case OSSL_FUNC_CIPHER_UPDATE: p.update = OSSL_FUNC_cipher_update(f); break;
      case OSSL_FUNC_CIPHER_FINAL: p.final = OSSL_FUNC_cipher_final(f); break;
      case OSSL_FUNC_CIPHER_GET_CTX_PARAMS: p.get_ctx_params = OSSL_FUNC_cipher_get_ctx_params(f); break;
      case OSSL_FUNC_CIPHER_SET_CTX_PARAMS: p.set_ctx_params = OSSL_FUNC_cipher_set_ctx_params(f); break;
      default: break;
    }
  }
  if (algorithms != nullptr) OSSL_PROVIDER_unquery_operation(prov, OSSL_OP_CIPHER, algorithms);
  if (p.newctx == nullptr || p.freectx == nullptr || p.einit == nullptr || p.dinit == nullptr || p.update == nullptr ||
      p.final == nullptr || p.get_ctx_params == nullptr || p.set_ctx_params == nullptr) {
    ERR_clear_error();
    return nullptr;
  }
  // The fetched cipher holds a reference to its provider for the process's life (CipherFor
  // never frees it), so these pointers stay valid.
  p.provctx = OSSL_PROVIDER_get0_provider_ctx(prov);
  if (!ProviderSelfTest(&p, suite)) return nullptr;
  return new (std::nothrow) ProviderAead(p);
}

static const ProviderAead* ProviderAeadFor(uint32_t suite) {
  switch (suite) {
    case SUITE_AES_256_GCM: {
      static const ProviderAead* aes = ResolveProviderAead(CipherFor(suite), suite);
      return aes;
    }
    case SUITE_CHACHA20_POLY1305: {
      static const ProviderAead* chacha = ResolveProviderAead(CipherFor(suite), suite);
      return chacha;
    }
    default:
      return nullptr;
  }
}

const char* PacketKeyPath(uint32_t suite) {
  if (CipherFor(suite) == nullptr) return nullptr;
  return ProviderAeadFor(suite) != nullptr ? "provider" : "evp";
}

static EVP_CIPHER_CTX* KeyedContext(const EVP_CIPHER* cipher, const uint8_t* key, int enc) {
  EVP_CIPHER_CTX* ctx = EVP_CIPHER_CTX_new();
  if (ctx == nullptr) return nullptr;
  // Both suites default to a 12-byte IV; set it explicitly so a changed default cannot bite.
  if (EVP_CipherInit_ex(ctx, cipher, nullptr, nullptr, nullptr, enc) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_IVLEN, IV_SIZE, nullptr) != 1 ||
      EVP_CipherInit_ex(ctx, nullptr, nullptr, key, nullptr, enc) != 1) {
    EVP_CIPHER_CTX_free(ctx);
    return nullptr;
  }
  return ctx;
}

AeadKey* AeadKey::Create(uint32_t suite, const uint8_t* key, const uint8_t* iv) {
  const EVP_CIPHER* cipher = CipherFor(suite);
  if (cipher == nullptr) return nullptr;
  return new (std::nothrow) AeadKey(suite, cipher, ProviderAeadFor(suite), key, iv);
}

AeadKey::AeadKey(uint32_t suite, const EVP_CIPHER* cipher, const ProviderAead* provider, const uint8_t* key,
                 const uint8_t* iv)
    : suite_(suite), cipher_(cipher), provider_(provider) {
  static_assert(sizeof key_ == KEY_SIZE, "key size");
  std::memcpy(key_, key, KEY_SIZE);
  std::memcpy(iv_, iv, IV_SIZE);
}

AeadKey::~AeadKey() {
  // EVP_CIPHER_CTX_free cleanses the key schedule; the key and IV are wiped here.
  EVP_CIPHER_CTX_free(seal_);
  EVP_CIPHER_CTX_free(open_);
  // The provider's freectx cleanses its context (key schedule, GHASH key) as EVP's does.
  if (provider_seal_ != nullptr) provider_->freectx(provider_seal_);
  if (provider_open_ != nullptr) provider_->freectx(provider_open_);
  OPENSSL_cleanse(key_, sizeof key_);
  OPENSSL_cleanse(iv_, sizeof iv_);
}

EVP_CIPHER_CTX* AeadKey::Context(int enc) {
  EVP_CIPHER_CTX*& ctx = enc ? seal_ : open_;
  if (ctx == nullptr) {
    ctx = KeyedContext(cipher_, key_, enc);
    if (ctx == nullptr) ERR_clear_error();
  }
  return ctx;
}

void* AeadKey::ProviderContext(int enc) {
  void*& ctx = enc ? provider_seal_ : provider_open_;
  if (ctx == nullptr) {
    ctx = ProviderKeyedContext(provider_, key_, enc);
    if (ctx == nullptr) ERR_clear_error();
  }
  return ctx;
}

void AeadKey::NonceFor(const uint8_t* header, uint8_t* nonce) const {
  std::memcpy(nonce, iv_, 4);
  for (int i = 0; i < 8; i++) nonce[4 + i] = iv_[4 + i] ^ header[PN_OFFSET + i];
}

// Seal/open one packet on a keyed context: only the nonce is set per call. As the provider
// path: the payload update must write exactly its input, final nothing.
static bool SealWith(EVP_CIPHER_CTX* seal, const uint8_t* nonce, const uint8_t* aad, size_t aad_len, uint8_t* data,
                     size_t len, uint8_t* tag_out) {
  int n = 0;
  uint8_t scratch[16];  // Final writes nothing for these AEADs, but needs a valid pointer.
  bool ok = EVP_EncryptInit_ex(seal, nullptr, nullptr, nullptr, nonce) == 1 &&
            (aad_len == 0 || EVP_EncryptUpdate(seal, nullptr, &n, aad, static_cast<int>(aad_len)) == 1) &&
            (len == 0 || (EVP_EncryptUpdate(seal, data, &n, data, static_cast<int>(len)) == 1 &&
                          static_cast<size_t>(n) == len)) &&
            EVP_EncryptFinal_ex(seal, scratch, &n) == 1 && n == 0 &&
            EVP_CIPHER_CTX_ctrl(seal, EVP_CTRL_AEAD_GET_TAG, TAG_SIZE, tag_out) == 1;
  if (!ok) ERR_clear_error();
  return ok;
}

static bool OpenWith(EVP_CIPHER_CTX* open, const uint8_t* nonce, const uint8_t* aad, size_t aad_len, uint8_t* data,
                     size_t len, const uint8_t* tag) {
  int n = 0;
  uint8_t scratch[16];
  // The tag is copied because OpenSSL's ctrl takes a non-const pointer.
  uint8_t tag_copy[TAG_SIZE];
  std::memcpy(tag_copy, tag, TAG_SIZE);
  bool ok = EVP_DecryptInit_ex(open, nullptr, nullptr, nullptr, nonce) == 1 &&
            EVP_CIPHER_CTX_ctrl(open, EVP_CTRL_AEAD_SET_TAG, TAG_SIZE, tag_copy) == 1 &&
            (aad_len == 0 || EVP_DecryptUpdate(open, nullptr, &n, aad, static_cast<int>(aad_len)) == 1) &&
            (len == 0 || (EVP_DecryptUpdate(open, data, &n, data, static_cast<int>(len)) == 1 &&
                          static_cast<size_t>(n) == len)) &&
            EVP_DecryptFinal_ex(open, scratch, &n) == 1 && n == 0;
  // A forged packet is an ordinary outcome: leave nothing on OpenSSL's per-thread error queue,
  // where node:crypto could later pick it up as its own error.
  if (!ok) ERR_clear_error();
  return ok;
}

bool AeadKey::SealOne(const uint8_t* nonce, const uint8_t* aad, size_t aad_len, uint8_t* data, size_t len,
                      uint8_t* tag_out) {
  if (provider_ != nullptr) {
    void* seal = ProviderContext(1);
    return seal != nullptr && ProviderSealWith(provider_, seal, nonce, aad, aad_len, data, len, tag_out);
  }
  EVP_CIPHER_CTX* seal = Context(1);
  return seal != nullptr && SealWith(seal, nonce, aad, aad_len, data, len, tag_out);
}

bool AeadKey::OpenOne(const uint8_t* nonce, const uint8_t* aad, size_t aad_len, uint8_t* data, size_t len,
                      const uint8_t* tag) {
  if (provider_ != nullptr) {
    void* open = ProviderContext(0);
    return open != nullptr && ProviderOpenWith(provider_, open, nonce, aad, aad_len, data, len, tag);
  }
  EVP_CIPHER_CTX* open = Context(0);
  return open != nullptr && OpenWith(open, nonce, aad, aad_len, data, len, tag);
}

// One-shot AEAD (handshake messages, cookies, tickets: a new key almost every call). A context
// per thread, suite and direction, re-keyed per call: creating one per call cost a ~1.1 KB
// allocation (which pulled glibc into malloc_consolidate), a cipher fetch by name and the IV
// length control. After each call ZeroOneShotContext keys it with zeros, so no key schedule, GHASH
// key or Poly1305 key stays behind in it.
static EVP_CIPHER_CTX* ThreadOneShotContext(uint32_t suite, int enc) {
  struct Holder {
    EVP_CIPHER_CTX* ctx[2][2] = {{nullptr, nullptr}, {nullptr, nullptr}};
    ~Holder() {
      for (auto& row : ctx)
        for (EVP_CIPHER_CTX* c : row) EVP_CIPHER_CTX_free(c);
    }
  };
  thread_local Holder holder;
  const EVP_CIPHER* cipher = CipherFor(suite);
  if (cipher == nullptr) return nullptr;
  EVP_CIPHER_CTX*& ctx = holder.ctx[suite == SUITE_AES_256_GCM ? 0 : 1][enc ? 1 : 0];
  if (ctx == nullptr) {
    ctx = EVP_CIPHER_CTX_new();
    if (ctx == nullptr || EVP_CipherInit_ex(ctx, cipher, nullptr, nullptr, nullptr, enc) != 1 ||
        EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_IVLEN, IV_SIZE, nullptr) != 1) {
      EVP_CIPHER_CTX_free(ctx);
      ctx = nullptr;
      ERR_clear_error();
    }
  }
  return ctx;
}

// Leaves nothing of the last call's key in a one-shot context: re-keys it with zeros and seals
// an empty message under a zero nonce, which overwrites what the key schedule alone does not: the
// ChaCha20 keystream block the Poly1305 one-time key came from (and that key's Poly1305 state),
// and GCM's E(K, J0) tag mask. Runs on every exit path, including failures.
static void ZeroOneShotContext(EVP_CIPHER_CTX* ctx) {
  static const uint8_t kZeroKey[KEY_SIZE] = {0};
  static const uint8_t kZeroNonce[IV_SIZE] = {0};
  uint8_t scratch[16];
  int n = 0;
  // Sealed in the encrypt direction whatever the context's direction: a decrypt Final would fail
  // on the missing tag. The next call sets its own direction with its key.
  if (EVP_CipherInit_ex(ctx, nullptr, nullptr, kZeroKey, kZeroNonce, 1) != 1 || EVP_EncryptFinal_ex(ctx, scratch, &n) != 1)
    ERR_clear_error();
}

static bool OneShot(uint32_t suite, int enc, const uint8_t* key, const uint8_t* nonce, const uint8_t* aad,
                    size_t aad_len, uint8_t* data, size_t len, uint8_t* tag) {
  EVP_CIPHER_CTX* ctx = ThreadOneShotContext(suite, enc);
  if (ctx == nullptr) return false;
  bool ok = EVP_CipherInit_ex(ctx, nullptr, nullptr, key, nullptr, enc) == 1;
  if (!ok) ERR_clear_error();  // a failed init may still have installed part of the key
  ok = ok && (enc ? SealWith(ctx, nonce, aad, aad_len, data, len, tag) : OpenWith(ctx, nonce, aad, aad_len, data, len, tag));
  ZeroOneShotContext(ctx);
  return ok;
}

bool AeadSealOnce(uint32_t suite, const uint8_t* key, const uint8_t* nonce, const uint8_t* aad, size_t aad_len,
                  uint8_t* data, size_t len, uint8_t* tag_out) {
  return OneShot(suite, 1, key, nonce, aad, aad_len, data, len, tag_out);
}

bool AeadOpenOnce(uint32_t suite, const uint8_t* key, const uint8_t* nonce, const uint8_t* aad, size_t aad_len,
                  uint8_t* data, size_t len, const uint8_t* tag) {
  return OneShot(suite, 0, key, nonce, aad, aad_len, data, len, const_cast<uint8_t*>(tag));
}

uint32_t AeadKey::SealBatch(uint8_t* slab, size_t slab_len, const uint32_t* offsets, const uint32_t* lengths,
                            uint32_t count, uint32_t header_size) {
  STT_ASSERT(header_size >= HEADER_SIZE);
  uint8_t nonce[IV_SIZE];
  uint32_t done = 0;
  for (uint32_t i = 0; i < count; i++) {
    const uint32_t off = offsets[i], len = lengths[i];
    STT_ASSERT(static_cast<uint64_t>(off) + len <= slab_len && len >= header_size + TAG_SIZE);
    uint8_t* p = slab + off;
    NonceFor(p, nonce);
    if (SealOne(nonce, p, header_size, p + header_size, len - header_size - TAG_SIZE, p + len - TAG_SIZE)) done++;
  }
  return done;
}

uint32_t AeadKey::OpenBatch(uint8_t* slab, size_t slab_len, const uint32_t* offsets, const uint32_t* lengths,
                            uint32_t count, uint32_t header_size, uint8_t* status) {
  STT_ASSERT(header_size >= HEADER_SIZE);
  uint8_t nonce[IV_SIZE];
  uint32_t good = 0;
  for (uint32_t i = 0; i < count; i++) {
    const uint32_t off = offsets[i], len = lengths[i];
    STT_ASSERT(static_cast<uint64_t>(off) + len <= slab_len);
    // Too short to hold a header and a tag: received garbage, a status like any forgery.
    if (len < header_size + TAG_SIZE) {
      status[i] = 0;
      continue;
    }
    uint8_t* p = slab + off;
    NonceFor(p, nonce);
    const bool ok = OpenOne(nonce, p, header_size, p + header_size, len - header_size - TAG_SIZE, p + len - TAG_SIZE);
    status[i] = ok ? 1 : 0;
    good += ok;
  }
  return good;
}

}  // namespace stt
