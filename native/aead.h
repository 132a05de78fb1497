// Packet protection core: one key (one direction, one suite) sealing/opening packets in place.
// Plain C++ over OpenSSL (no N-API) so native/fuzz/ can drive it directly. Per packet it calls the
// provider's cipher functions directly when OpenSSL's own provider passes the checks and the
// self-test in aead.cc (ResolveProviderAead), else the EVP API; the one-shot calls use EVP.
//
// Layout of a packet (src/crypto/aead.ts): header (header_size bytes, the AAD) || payload
// (encrypted in place) || tag (TAG_SIZE bytes). nonce = iv XOR (0^32 || pn), pn = the u64 at
// header bytes [PN_OFFSET, PN_OFFSET + 8).
#pragma once

#include <openssl/evp.h>

#include <cstddef>
#include <cstdint>

namespace stt {

struct ProviderAead;

class AeadKey {
 public:
  // nullptr when the suite is unknown or OpenSSL refuses the key (never for valid input).
  static AeadKey* Create(uint32_t suite, const uint8_t* key, const uint8_t* iv);
  ~AeadKey();
  AeadKey(const AeadKey&) = delete;
  AeadKey& operator=(const AeadKey&) = delete;

  uint32_t suite() const { return suite_; }

  // One packet with an explicit 12-byte nonce: what SealBatch/OpenBatch do per packet, and what
  // the test-only PacketKey.testSealOne/testOpenOne (aead_napi.cc) call, so that the Wycheproof
  // vectors run through the per-packet path. data is transformed in place; aad may be empty.
  bool SealOne(const uint8_t* nonce, const uint8_t* aad, size_t aad_len, uint8_t* data, size_t len,
               uint8_t* tag_out);
  bool OpenOne(const uint8_t* nonce, const uint8_t* aad, size_t aad_len, uint8_t* data, size_t len,
               const uint8_t* tag);

  // Returns how many packets were sealed; fewer than count only if OpenSSL failed (a bug).
  uint32_t SealBatch(uint8_t* slab, size_t slab_len, const uint32_t* offsets, const uint32_t* lengths,
                     uint32_t count, uint32_t header_size);
  // status[i] = 1 when packet i authenticated (payload now plaintext), else 0 (payload then
  // unspecified). Returns the number of packets that authenticated.
  uint32_t OpenBatch(uint8_t* slab, size_t slab_len, const uint32_t* offsets, const uint32_t* lengths,
                     uint32_t count, uint32_t header_size, uint8_t* status);

 private:
  AeadKey(uint32_t suite, const EVP_CIPHER* cipher, const ProviderAead* provider, const uint8_t* key,
          const uint8_t* iv);
  void NonceFor(const uint8_t* header, uint8_t* nonce) const;
  // The context of one direction (enc 1: seal, 0: open), keyed on its first use; nullptr if
  // OpenSSL fails (nothing is sealed or opened then).
  EVP_CIPHER_CTX* Context(int enc);
  // The same for the provider's own context (provider_ != nullptr).
  void* ProviderContext(int enc);

  uint32_t suite_;
  const EVP_CIPHER* cipher_;
  // The provider functions behind cipher_ when they were resolved and passed the self-test
  // (aead.cc, ResolveProviderAead): then the per-packet work calls them on provider_seal_ /
  // provider_open_ and seal_ / open_ stay null; otherwise (STT_NATIVE_AEAD_EVP=1, a legacy
  // descriptor, another provider, a failed check) the EVP contexts are used.
  const ProviderAead* provider_;
  // Both kinds of context are keyed once, on first use; per packet only the IV is re-set,
  // which is what makes the native path 3-16x cheaper per packet than node:crypto's cipher
  // object per packet (bench/aead.bench.mjs). A session's packet key only ever seals (send) or
  // only opens (receive), and a keyed context holds ~1.5 KB of OpenSSL memory outside the JS
  // heap, so creating both eagerly cost ~3 KB of RSS per session (issue 14).
  void* provider_seal_ = nullptr;
  void* provider_open_ = nullptr;
  EVP_CIPHER_CTX* seal_ = nullptr;
  EVP_CIPHER_CTX* open_ = nullptr;
  uint8_t key_[32];
  uint8_t iv_[12];
};

// STT_NATIVE_AEAD_EVP=1 in the environment: packet keys use EVP, never the direct provider calls.
// Read once per process; the addon's InitAead reads it at load.
bool AeadForcedToEvp();

// Which way packet keys of `suite` seal and open: "provider" (the direct calls) or "evp";
// nullptr for an unknown suite. The addon exports it as aeadPacketPath(suiteId).
const char* PacketKeyPath(uint32_t suite);

// One AEAD operation under a key used for it alone (handshake messages, cookies, tickets), with
// an explicit 12-byte nonce: data in place, through EVP on a per-thread context (not the direct
// provider calls of AeadKey). false for an unknown suite, a tag that does not verify, or an
// OpenSSL failure.
bool AeadSealOnce(uint32_t suite, const uint8_t* key, const uint8_t* nonce, const uint8_t* aad, size_t aad_len,
                  uint8_t* data, size_t len, uint8_t* tag_out);
bool AeadOpenOnce(uint32_t suite, const uint8_t* key, const uint8_t* nonce, const uint8_t* aad, size_t aad_len,
                  uint8_t* data, size_t len, const uint8_t* tag);

}  // namespace stt
