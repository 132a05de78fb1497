#include "aead.h"

#include <openssl/crypto.h>
#include <openssl/err.h>

#include <cstring>

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
  return new AeadKey(suite, cipher, key, iv);
}

AeadKey::AeadKey(uint32_t suite, const EVP_CIPHER* cipher, const uint8_t* key, const uint8_t* iv)
    : suite_(suite), cipher_(cipher) {
  static_assert(sizeof key_ == KEY_SIZE, "key size");
  std::memcpy(key_, key, KEY_SIZE);
  std::memcpy(iv_, iv, IV_SIZE);
}

AeadKey::~AeadKey() {
  // EVP_CIPHER_CTX_free cleanses the key schedule; the key and IV are wiped here.
  EVP_CIPHER_CTX_free(seal_);
  EVP_CIPHER_CTX_free(open_);
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

void AeadKey::NonceFor(const uint8_t* header, uint8_t* nonce) const {
  std::memcpy(nonce, iv_, 4);
  for (int i = 0; i < 8; i++) nonce[4 + i] = iv_[4 + i] ^ header[PN_OFFSET + i];
}

// Seal/open one packet on a keyed context: only the nonce is set per call.
static bool SealWith(EVP_CIPHER_CTX* seal, const uint8_t* nonce, const uint8_t* aad, size_t aad_len, uint8_t* data,
                     size_t len, uint8_t* tag_out) {
  int n = 0;
  uint8_t scratch[16];  // Final writes nothing for these AEADs, but needs a valid pointer.
  bool ok = EVP_EncryptInit_ex(seal, nullptr, nullptr, nullptr, nonce) == 1 &&
            (aad_len == 0 || EVP_EncryptUpdate(seal, nullptr, &n, aad, static_cast<int>(aad_len)) == 1) &&
            (len == 0 || EVP_EncryptUpdate(seal, data, &n, data, static_cast<int>(len)) == 1) &&
            EVP_EncryptFinal_ex(seal, scratch, &n) == 1 &&
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
            (len == 0 || EVP_DecryptUpdate(open, data, &n, data, static_cast<int>(len)) == 1) &&
            EVP_DecryptFinal_ex(open, scratch, &n) == 1;
  // A forged packet is an ordinary outcome: leave nothing on OpenSSL's per-thread error queue,
  // where node:crypto could later pick it up as its own error.
  if (!ok) ERR_clear_error();
  return ok;
}

bool AeadKey::SealOne(const uint8_t* nonce, const uint8_t* aad, size_t aad_len, uint8_t* data, size_t len,
                      uint8_t* tag_out) {
  EVP_CIPHER_CTX* seal = Context(1);
  return seal != nullptr && SealWith(seal, nonce, aad, aad_len, data, len, tag_out);
}

bool AeadKey::OpenOne(const uint8_t* nonce, const uint8_t* aad, size_t aad_len, uint8_t* data, size_t len,
                      const uint8_t* tag) {
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
