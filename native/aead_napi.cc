// N-API surface of the AEAD core: class PacketKey (sealBatch/openBatch/destroy, mirroring the
// TypeScript PacketKey) and two explicit-nonce entry points used by the known-answer tests.
// Arguments were validated by src/crypto/native-aead.ts; here they are only asserted.
#include <memory>

#include "aead.h"
#include "bindings.h"
#include "napi_util.h"

namespace stt {
namespace {

class PacketKey : public Napi::ObjectWrap<PacketKey> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "PacketKey",
                       {InstanceMethod<&PacketKey::SealBatch>("sealBatch"),
                        InstanceMethod<&PacketKey::OpenBatch>("openBatch"),
                        InstanceMethod<&PacketKey::Destroy>("destroy")});
  }

  // new PacketKey(suiteId, key: Uint8Array(32), iv: Uint8Array(12))
  explicit PacketKey(const Napi::CallbackInfo& info) : Napi::ObjectWrap<PacketKey>(info) {
    const uint32_t suite = U32Arg(info, 0);
    Span<uint8_t> key = BytesOf(info.Env(), info[1]);
    Span<uint8_t> iv = BytesOf(info.Env(), info[2]);
    STT_ASSERT(key.length == KEY_SIZE && iv.length == IV_SIZE);
    key_.reset(AeadKey::Create(suite, key.data, iv.data));
    // Only an unknown suite (filtered in TS) or an OpenSSL failure gets here; TS throws.
    if (!key_) Napi::Error::New(info.Env(), "stt_native: cannot create AEAD key").ThrowAsJavaScriptException();
  }

 private:
  // sealBatch(slab, offsets, lengths, count, headerSize) -> packets sealed (count unless OpenSSL failed)
  Napi::Value SealBatch(const Napi::CallbackInfo& info) {
    napi_env env = info.Env();
    STT_ASSERT(key_ != nullptr);
    Span<uint8_t> slab = BytesOf(env, info[0]);
    Span<uint32_t> offsets = U32Of(env, info[1]);
    Span<uint32_t> lengths = U32Of(env, info[2]);
    const uint32_t count = U32Arg(info, 3), header_size = U32Arg(info, 4);
    STT_ASSERT(count <= offsets.length && count <= lengths.length);
    uint32_t n = key_->SealBatch(slab.data, slab.length, offsets.data, lengths.data, count, header_size);
    return Napi::Number::New(env, n);
  }

  // openBatch(slab, offsets, lengths, count, headerSize, status) -> packets that authenticated
  Napi::Value OpenBatch(const Napi::CallbackInfo& info) {
    napi_env env = info.Env();
    STT_ASSERT(key_ != nullptr);
    Span<uint8_t> slab = BytesOf(env, info[0]);
    Span<uint32_t> offsets = U32Of(env, info[1]);
    Span<uint32_t> lengths = U32Of(env, info[2]);
    const uint32_t count = U32Arg(info, 3), header_size = U32Arg(info, 4);
    Span<uint8_t> status = BytesOf(env, info[5]);
    STT_ASSERT(count <= offsets.length && count <= lengths.length && count <= status.length);
    uint32_t n = key_->OpenBatch(slab.data, slab.length, offsets.data, lengths.data, count, header_size, status.data);
    return Napi::Number::New(env, n);
  }

  // Frees the OpenSSL contexts now instead of at garbage collection.
  void Destroy(const Napi::CallbackInfo&) { key_.reset(); }

  std::unique_ptr<AeadKey> key_;
};

// One packet with an explicit nonce under a key used for it alone (the handshake's messages,
// cookies and tickets; known-answer vectors, whose nonces are not of the iv XOR pn form):
// aeadSealOne(suite, key, nonce, aad, data, tagOut) -> bool (data in place).
Napi::Value AeadSealOne(const Napi::CallbackInfo& info) {
  napi_env env = info.Env();
  Span<uint8_t> key = BytesOf(env, info[1]), nonce = BytesOf(env, info[2]), aad = BytesOf(env, info[3]);
  Span<uint8_t> data = BytesOf(env, info[4]), tag = BytesOf(env, info[5]);
  STT_ASSERT(key.length == KEY_SIZE && nonce.length == IV_SIZE && tag.length == TAG_SIZE);
  bool ok = AeadSealOnce(U32Arg(info, 0), key.data, nonce.data, aad.data, aad.length, data.data, data.length, tag.data);
  return Napi::Boolean::New(env, ok);
}

// aeadOpenOne(suite, key, nonce, aad, data, tag) -> bool (data decrypted in place when true)
Napi::Value AeadOpenOne(const Napi::CallbackInfo& info) {
  napi_env env = info.Env();
  Span<uint8_t> key = BytesOf(env, info[1]), nonce = BytesOf(env, info[2]), aad = BytesOf(env, info[3]);
  Span<uint8_t> data = BytesOf(env, info[4]), tag = BytesOf(env, info[5]);
  STT_ASSERT(key.length == KEY_SIZE && nonce.length == IV_SIZE && tag.length == TAG_SIZE);
  bool ok = AeadOpenOnce(U32Arg(info, 0), key.data, nonce.data, aad.data, aad.length, data.data, data.length, tag.data);
  return Napi::Boolean::New(env, ok);
}

}  // namespace

void InitAead(Napi::Env env, Napi::Object exports, AddonData* data) {
  Napi::Function ctor = PacketKey::Define(env);
  data->packet_key_ctor = Napi::Persistent(ctor);
  exports.Set("PacketKey", ctor);
  exports.Set("aeadSealOne", Napi::Function::New<AeadSealOne>(env, "aeadSealOne"));
  exports.Set("aeadOpenOne", Napi::Function::New<AeadOpenOne>(env, "aeadOpenOne"));
}

}  // namespace stt
