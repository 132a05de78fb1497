// N-API surface of the handshake primitives: class X25519Key (publicKey/dh/destroy, mirroring
// the key pairs of src/crypto/handshake-crypto.ts) and one-shot x25519Once, x25519Ephemeral,
// hkdfSha256, hmacSha256, sha256, sha3_256.
// Every function writes into a caller-provided Uint8Array (no allocation here) and returns
// false instead of throwing; src/crypto/native-handshake-crypto.ts validates the arguments.
#include <memory>

#include "bindings.h"
#include "handshake_crypto.h"
#include "napi_util.h"

namespace stt {
namespace {

class X25519KeyWrap : public Napi::ObjectWrap<X25519KeyWrap> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "X25519Key",
                       {InstanceMethod<&X25519KeyWrap::PublicKey>("publicKey"),
                        InstanceMethod<&X25519KeyWrap::Dh>("dh"),
                        InstanceMethod<&X25519KeyWrap::Destroy>("destroy")});
  }

  // new X25519Key(priv: Uint8Array(32)); the private key is copied into OpenSSL memory.
  explicit X25519KeyWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<X25519KeyWrap>(info) {
    Span<uint8_t> priv = BytesOf(info.Env(), info[0]);
    STT_ASSERT(priv.length == X25519_KEY_SIZE);
    key_.reset(X25519Key::Create(priv.data));
    if (!key_) Napi::Error::New(info.Env(), "stt_native: cannot import X25519 key").ThrowAsJavaScriptException();
  }

 private:
  // publicKey(out: Uint8Array(32)) -> bool
  Napi::Value PublicKey(const Napi::CallbackInfo& info) {
    Span<uint8_t> out = BytesOf(info.Env(), info[0]);
    STT_ASSERT(out.length == X25519_KEY_SIZE);
    return Napi::Boolean::New(info.Env(), key_ != nullptr && key_->PublicKey(out.data));
  }

  // dh(peer: Uint8Array(32), out: Uint8Array(32)) -> bool (false: failure or all-zero result)
  Napi::Value Dh(const Napi::CallbackInfo& info) {
    napi_env env = info.Env();
    Span<uint8_t> peer = BytesOf(env, info[0]), out = BytesOf(env, info[1]);
    STT_ASSERT(peer.length == X25519_KEY_SIZE && out.length == X25519_KEY_SIZE);
    return Napi::Boolean::New(env, key_ != nullptr && key_->Dh(peer.data, out.data));
  }

  // Frees (and cleanses) the private key now instead of at garbage collection.
  void Destroy(const Napi::CallbackInfo&) { key_.reset(); }

  std::unique_ptr<X25519Key> key_;
};

// x25519Once(priv: Uint8Array(32), peer: Uint8Array(32), out: Uint8Array(32)) -> bool
Napi::Value X25519OnceFn(const Napi::CallbackInfo& info) {
  napi_env env = info.Env();
  Span<uint8_t> priv = BytesOf(env, info[0]), peer = BytesOf(env, info[1]), out = BytesOf(env, info[2]);
  STT_ASSERT(priv.length == X25519_KEY_SIZE && peer.length == X25519_KEY_SIZE && out.length == X25519_KEY_SIZE);
  return Napi::Boolean::New(env, X25519Once(priv.data, peer.data, out.data));
}

// x25519Ephemeral(priv: Uint8Array(32), peer: Uint8Array(32), pub: Uint8Array(32), out: Uint8Array(32)) -> bool
Napi::Value X25519EphemeralFn(const Napi::CallbackInfo& info) {
  napi_env env = info.Env();
  Span<uint8_t> priv = BytesOf(env, info[0]), peer = BytesOf(env, info[1]), pub = BytesOf(env, info[2]), out = BytesOf(env, info[3]);
  STT_ASSERT(priv.length == X25519_KEY_SIZE && peer.length == X25519_KEY_SIZE && pub.length == X25519_KEY_SIZE &&
             out.length == X25519_KEY_SIZE);
  return Napi::Boolean::New(env, X25519Ephemeral(priv.data, peer.data, pub.data, out.data));
}

// hkdfSha256(ikm, salt, info, out) -> bool; out.length is the output length.
Napi::Value HkdfSha256Fn(const Napi::CallbackInfo& info) {
  napi_env env = info.Env();
  Span<uint8_t> ikm = BytesOf(env, info[0]), salt = BytesOf(env, info[1]), inf = BytesOf(env, info[2]);
  Span<uint8_t> out = BytesOf(env, info[3]);
  bool ok = HkdfSha256(ikm.data, ikm.length, salt.data, salt.length, inf.data, inf.length, out.data, out.length);
  return Napi::Boolean::New(env, ok);
}

// hmacSha256(key, data, out: Uint8Array(32)) -> bool
Napi::Value HmacSha256Fn(const Napi::CallbackInfo& info) {
  napi_env env = info.Env();
  Span<uint8_t> key = BytesOf(env, info[0]), data = BytesOf(env, info[1]), out = BytesOf(env, info[2]);
  STT_ASSERT(out.length == SHA256_SIZE);
  return Napi::Boolean::New(env, HmacSha256(key.data, key.length, data.data, data.length, out.data));
}

// sha256(data, out: Uint8Array(32)) -> bool
Napi::Value Sha256Fn(const Napi::CallbackInfo& info) {
  napi_env env = info.Env();
  Span<uint8_t> data = BytesOf(env, info[0]), out = BytesOf(env, info[1]);
  STT_ASSERT(out.length == SHA256_SIZE);
  return Napi::Boolean::New(env, Sha256(data.data, data.length, out.data));
}

// sha3_256(data, out: Uint8Array(32)) -> bool
Napi::Value Sha3_256Fn(const Napi::CallbackInfo& info) {
  napi_env env = info.Env();
  Span<uint8_t> data = BytesOf(env, info[0]), out = BytesOf(env, info[1]);
  STT_ASSERT(out.length == SHA3_256_SIZE);
  return Napi::Boolean::New(env, Sha3_256(data.data, data.length, out.data));
}

}  // namespace

void InitHandshakeCrypto(Napi::Env env, Napi::Object exports) {
  exports.Set("X25519Key", X25519KeyWrap::Define(env));
  exports.Set("x25519Once", Napi::Function::New<X25519OnceFn>(env, "x25519Once"));
  exports.Set("hkdfSha256", Napi::Function::New<HkdfSha256Fn>(env, "hkdfSha256"));
  exports.Set("hmacSha256", Napi::Function::New<HmacSha256Fn>(env, "hmacSha256"));
  exports.Set("sha256", Napi::Function::New<Sha256Fn>(env, "sha256"));
  exports.Set("x25519Ephemeral", Napi::Function::New<X25519EphemeralFn>(env, "x25519Ephemeral"));
  exports.Set("sha3_256", Napi::Function::New<Sha3_256Fn>(env, "sha3_256"));
}

}  // namespace stt
