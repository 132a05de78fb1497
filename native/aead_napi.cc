// N-API surface of the AEAD core: class PacketKey (sealBatch/openBatch/destroy, mirroring the
// TypeScript PacketKey; testSealOne/testOpenOne for the known-answer tests), the by-id calls,
// two one-shot explicit-nonce entry points and aeadPacketPath (which way packet keys go).
// Arguments were validated by src/crypto/native-aead.ts; here they are only asserted.
#include <memory>
#include <vector>

#include "aead.h"
#include "bindings.h"
#include "napi_util.h"

namespace stt {

// The live packet keys of one environment by id, so that the per-batch calls (sealBatchById,
// openBatchById) find their key without napi_unwrap: a private-property lookup of ~800
// instructions per call, i.e. per packet in a 64-byte ping-pong, about 2 % of its user-space
// instructions (callgrind, issue 13). An id is slot + generation * 2^24: a stale id (a destroyed
// key) never reaches a later key in the same slot, because a slot whose generation reaches 2^29
// is retired, not wrapped (16 bytes per 2^29 keys; every id stays an exact double below 2^53).
// Generations start at 1, so 0 (what a failed number conversion yields) is never a live id.
// Ids are handles, not key material, and name keys of this environment only: a worker's table
// is its own, and the same number there names another key (a PacketKey cannot be posted across
// threads, so the TypeScript wrapper never carries an id from one to another).
class PacketKeyTable {
 public:
  double Add(AeadKey* key) {
    uint32_t slot;
    if (!free_.empty()) {
      slot = free_.back();
      free_.pop_back();
    } else {
      STT_ASSERT(slots_.size() < kSlots);
      slot = static_cast<uint32_t>(slots_.size());
      slots_.push_back(Slot{});
    }
    slots_[slot].key = key;
    return static_cast<double>(slots_[slot].generation) * kSlots + slot;
  }

  void Remove(double id) {
    const uint32_t slot = SlotOf(id);
    if (Find(id) == nullptr) return;
    slots_[slot].key = nullptr;
    // Retired after 2^29 keys rather than wrapped (review 75): a wrap would let a stale id name a
    // new key. The free list is last in, first out, so a churning node keeps reusing one slot.
    if (++slots_[slot].generation == kGenerations) return;
    free_.push_back(slot);
  }

  AeadKey* Find(double id) const {
    if (!(id >= 0 && id < kMaxId)) return nullptr;
    const uint32_t slot = SlotOf(id);
    if (slot >= slots_.size()) return nullptr;
    const Slot& s = slots_[slot];
    return s.key != nullptr && static_cast<double>(s.generation) * kSlots + slot == id ? s.key : nullptr;
  }

 private:
  static constexpr uint32_t kSlots = 1u << 24;
  static constexpr uint32_t kGenerations = 1u << 29;
  static constexpr double kMaxId = 9007199254740992.0;  // 2^53
  static uint32_t SlotOf(double id) { return static_cast<uint32_t>(static_cast<uint64_t>(id) % kSlots); }

  struct Slot {
    AeadKey* key = nullptr;
    uint32_t generation = 1;
  };
  std::vector<Slot> slots_;
  std::vector<uint32_t> free_;
};

namespace {

class PacketKey : public Napi::ObjectWrap<PacketKey> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "PacketKey",
                       {InstanceMethod<&PacketKey::SealBatch>("sealBatch"),
                        InstanceMethod<&PacketKey::OpenBatch>("openBatch"),
                        InstanceMethod<&PacketKey::TestSealOne>("testSealOne"),
                        InstanceMethod<&PacketKey::TestOpenOne>("testOpenOne"),
                        InstanceMethod<&PacketKey::Id>("id"),
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
    if (!key_) {
      Napi::Error::New(info.Env(), "stt_native: cannot create AEAD key").ThrowAsJavaScriptException();
      return;
    }
    table_ = GetAddonData(info.Env())->packet_keys;
    id_ = table_->Add(key_.get());
  }

  ~PacketKey() override { Unregister(); }

 private:
  void Unregister() {
    if (table_ && id_ >= 0) table_->Remove(id_);
    id_ = -1;
  }

  // id() -> this key's handle for sealBatchById / openBatchById (-1 once destroyed)
  Napi::Value Id(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), id_); }

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

  // Test only: AeadKey::SealOne / OpenOne with an explicit nonce, i.e. the per-packet path
  // (direct provider calls or EVP, as aeadPacketPath says) on this key's contexts, for vectors
  // whose nonces are not of the iv XOR pn form. Never called by src/: an explicit nonce is
  // the caller's to keep unique.
  // testSealOne(nonce: 12 bytes, aad, data, tagOut: 16 bytes) -> bool (data in place)
  Napi::Value TestSealOne(const Napi::CallbackInfo& info) { return TestOne(info, &AeadKey::SealOne); }

  // testOpenOne(nonce: 12 bytes, aad, data, tag: 16 bytes) -> bool (data decrypted in place when true)
  Napi::Value TestOpenOne(const Napi::CallbackInfo& info) { return TestOne(info, &AeadKey::OpenOne); }

  template <typename One>
  Napi::Value TestOne(const Napi::CallbackInfo& info, One one) {
    napi_env env = info.Env();
    STT_ASSERT(key_ != nullptr);
    Span<uint8_t> nonce = BytesOf(env, info[0]), aad = BytesOf(env, info[1]);
    Span<uint8_t> data = BytesOf(env, info[2]), tag = BytesOf(env, info[3]);
    STT_ASSERT(nonce.length == IV_SIZE && tag.length == TAG_SIZE);
    return Napi::Boolean::New(env, ((*key_).*one)(nonce.data, aad.data, aad.length, data.data, data.length, tag.data));
  }

  // Frees the OpenSSL contexts now instead of at garbage collection.
  void Destroy(const Napi::CallbackInfo&) {
    Unregister();
    key_.reset();
  }

  std::unique_ptr<AeadKey> key_;
  std::shared_ptr<PacketKeyTable> table_;
  double id_ = -1;
};

// The key info[0] names, or null. A non-number id throws (false): As<Number>().DoubleValue()
// would return 0 with an exception pending, and seal under whatever key 0 named (review 75).
bool KeyById(const Napi::CallbackInfo& info, AeadKey** key) {
  double id;
  if (napi_get_value_double(info.Env(), info[0], &id) != napi_ok) {
    Napi::TypeError::New(info.Env(), "stt_native: key id must be a number").ThrowAsJavaScriptException();
    return false;
  }
  *key = static_cast<PacketKeyTable*>(info.Data())->Find(id);
  return true;
}

// sealBatchById(id, slab, offsets, lengths, count, headerSize) -> packets sealed, or -1 when no
// live key has that id. The same work as PacketKey.sealBatch, found by id (see PacketKeyTable).
Napi::Value SealBatchById(const Napi::CallbackInfo& info) {
  napi_env env = info.Env();
  AeadKey* key = nullptr;
  if (!KeyById(info, &key)) return Napi::Value();
  if (key == nullptr) return Napi::Number::New(env, -1);
  Span<uint8_t> slab = BytesOf(env, info[1]);
  Span<uint32_t> offsets = U32Of(env, info[2]);
  Span<uint32_t> lengths = U32Of(env, info[3]);
  const uint32_t count = U32Arg(info, 4), header_size = U32Arg(info, 5);
  STT_ASSERT(count <= offsets.length && count <= lengths.length);
  return Napi::Number::New(env, key->SealBatch(slab.data, slab.length, offsets.data, lengths.data, count, header_size));
}

// openBatchById(id, slab, offsets, lengths, count, headerSize, status) -> packets that
// authenticated, or -1 when no live key has that id.
Napi::Value OpenBatchById(const Napi::CallbackInfo& info) {
  napi_env env = info.Env();
  AeadKey* key = nullptr;
  if (!KeyById(info, &key)) return Napi::Value();
  if (key == nullptr) return Napi::Number::New(env, -1);
  Span<uint8_t> slab = BytesOf(env, info[1]);
  Span<uint32_t> offsets = U32Of(env, info[2]);
  Span<uint32_t> lengths = U32Of(env, info[3]);
  const uint32_t count = U32Arg(info, 4), header_size = U32Arg(info, 5);
  Span<uint8_t> status = BytesOf(env, info[6]);
  STT_ASSERT(count <= offsets.length && count <= lengths.length && count <= status.length);
  return Napi::Number::New(
      env, key->OpenBatch(slab.data, slab.length, offsets.data, lengths.data, count, header_size, status.data));
}

// The arguments sealOneById and openOneById share: (id, slab, offset, length, headerSize).
struct OnePacketArgs {
  AeadKey* key = nullptr;  // null when no live key has the id
  Span<uint8_t> slab;
  uint32_t offset = 0, length = 0, header_size = 0;
};

// false when a JavaScript exception is pending (a bad id argument).
bool ReadOnePacketArgs(const Napi::CallbackInfo& info, OnePacketArgs* args) {
  if (!KeyById(info, &args->key)) return false;
  if (args->key == nullptr) return true;
  args->slab = BytesOf(info.Env(), info[1]);
  args->offset = U32Arg(info, 2);
  args->length = U32Arg(info, 3);
  args->header_size = U32Arg(info, 4);
  return true;
}

// sealOneById(id, slab, offset, length, headerSize) -> 1 when sealed, 0 when OpenSSL failed, -1
// when no live key has that id: sealBatchById for one packet at slab[offset, offset + length).
// A ping-pong seals one packet per call, and the offsets and lengths arrays cost a
// napi_get_typedarray_info each (~350 instructions; issue 13): numbers are cheaper.
Napi::Value SealOneById(const Napi::CallbackInfo& info) {
  OnePacketArgs a;
  if (!ReadOnePacketArgs(info, &a)) return Napi::Value();
  if (a.key == nullptr) return Napi::Number::New(info.Env(), -1);
  return Napi::Number::New(info.Env(), a.key->SealBatch(a.slab.data, a.slab.length, &a.offset, &a.length, 1, a.header_size));
}

// openOneById(id, slab, offset, length, headerSize) -> 1 when the packet authenticated (opened in
// place), 0 when not, -1 when no live key has that id: openBatchById for one packet, its status
// as the result (no status array either).
Napi::Value OpenOneById(const Napi::CallbackInfo& info) {
  OnePacketArgs a;
  if (!ReadOnePacketArgs(info, &a)) return Napi::Value();
  if (a.key == nullptr) return Napi::Number::New(info.Env(), -1);
  uint8_t status = 0;
  a.key->OpenBatch(a.slab.data, a.slab.length, &a.offset, &a.length, 1, a.header_size, &status);
  return Napi::Number::New(info.Env(), status);
}

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

// aeadPacketPath(suiteId) -> 'provider' | 'evp' (PacketKeyPath), '' for an unknown suite.
Napi::Value AeadPacketPath(const Napi::CallbackInfo& info) {
  const char* path = PacketKeyPath(U32Arg(info, 0));
  return Napi::String::New(info.Env(), path == nullptr ? "" : path);
}

}  // namespace

void InitAead(Napi::Env env, Napi::Object exports, AddonData* data) {
  // STT_NATIVE_AEAD_EVP is read now, at load, not at the first packet key.
  AeadForcedToEvp();
  Napi::Function ctor = PacketKey::Define(env);
  data->packet_key_ctor = Napi::Persistent(ctor);
  data->packet_keys = std::make_shared<PacketKeyTable>();
  exports.Set("PacketKey", ctor);
  exports.Set("sealBatchById", Napi::Function::New<SealBatchById>(env, "sealBatchById", data->packet_keys.get()));
  exports.Set("openBatchById", Napi::Function::New<OpenBatchById>(env, "openBatchById", data->packet_keys.get()));
  exports.Set("sealOneById", Napi::Function::New<SealOneById>(env, "sealOneById", data->packet_keys.get()));
  exports.Set("openOneById", Napi::Function::New<OpenOneById>(env, "openOneById", data->packet_keys.get()));
  exports.Set("aeadSealOne", Napi::Function::New<AeadSealOne>(env, "aeadSealOne"));
  exports.Set("aeadOpenOne", Napi::Function::New<AeadOpenOne>(env, "aeadOpenOne"));
  exports.Set("aeadPacketPath", Napi::Function::New<AeadPacketPath>(env, "aeadPacketPath"));
}

}  // namespace stt
