// JS class UdpSocket: a UdpCore driven by a libuv uv_poll on its fd.
//
// Ownership and lifetime
// - TypeScript owns every buffer: the receive slab and metadata arrays (setReceiveBuffers), the
//   Float64Array of counters and the Int32Array send result (constructor). Native keeps a strong
//   napi_ref on each while it may write to it, and caches the data pointers: udp-native.ts
//   allocates all of them itself as fixed-length (never resizable or transferred) buffers, so
//   the pointers stay valid for as long as the references are held.
// - While open, the JS object is pinned (ObjectWrap::Ref) so a forgotten socket is never
//   collected under a live uv_poll; close() unpins it once libuv has closed the handle.
// - An async env cleanup hook closes the handle when the environment goes away (worker
//   terminate, process exit) and tells Node when the close has finished, so the worker's loop
//   can be closed without open handles.
//
// Receive path (bounded work per event-loop turn): on UV_READABLE, at most kMaxRecvRounds
// rounds of UdpCore::RecvRound, each followed by ONE JS call onRecv(count). uv_poll is
// level-triggered, so datagrams left in the socket make the next loop turn readable again.
#include <arpa/inet.h>
#include <uv.h>

#include <atomic>
#include <cstring>
#include <string>
#include <unordered_map>

#include "bindings.h"
#include "callback.h"
#include "napi_util.h"
#include "udp_socket.h"

namespace stt {
namespace {
class UdpSocket;
}  // namespace

// The open sockets of one environment by id, so that udpSendOne (a module function) finds its
// socket without the napi_unwrap of a method call: ~790 instructions per datagram sent, one per
// packet in a 64-byte ping-pong (issue 13; PacketKeyTable does the same for packet keys). Ids
// count up from 1 and are never reused (exact doubles up to 2^53), and a socket is listed from
// open() until its close begins, so an id never names a closing, closed or freed socket. Ids are
// handles of this environment only, like packet key ids.
class UdpSocketTable {
 public:
  double Add(UdpSocket* socket) {
    const double id = next_++;
    live_.emplace(id, socket);
    return id;
  }
  void Remove(double id) { live_.erase(id); }
  UdpSocket* Find(double id) const {
    const auto it = live_.find(id);
    return it == live_.end() ? nullptr : it->second;
  }

 private:
  std::unordered_map<double, UdpSocket*> live_;
  double next_ = 1;
};

namespace {

// 4 rounds x 64 datagrams = 256 datagrams (more with GRO) before yielding to timers and other
// I/O: the same order as quinn's IO_LOOP_BOUND (160 datagrams). Each round already amortises
// the syscall and the JS call over up to 64 datagrams, so more rounds would mostly delay
// timers (ACKs, retransmissions) under a flood.
constexpr int kMaxRecvRounds = 4;

// uv_hrtime() in ms: the monotonic clock Node's performance.now() counts from its start.
double HrtimeMs() { return static_cast<double>(uv_hrtime()) / 1e6; }

// Process-wide count of open uv_poll handles, for leak tests (liveHandles()).
std::atomic<int> g_live_handles{0};

class UdpSocket : public Napi::ObjectWrap<UdpSocket> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "UdpSocket",
                       {InstanceMethod<&UdpSocket::Open>("open"),
                        InstanceMethod<&UdpSocket::SetReceiveBuffers>("setReceiveBuffers"),
                        InstanceMethod<&UdpSocket::Start>("start"),
                        InstanceMethod<&UdpSocket::Send>("send"),
                        InstanceMethod<&UdpSocket::SendOne>("sendOne"),
                        InstanceMethod<&UdpSocket::Id>("id"),
                        InstanceMethod<&UdpSocket::SendMulti>("sendMulti"),
                        InstanceMethod<&UdpSocket::ArmWritable>("armWritable"),
                        InstanceMethod<&UdpSocket::Caps>("caps"),
                        InstanceMethod<&UdpSocket::SetRef>("setRef"),
                        InstanceMethod<&UdpSocket::Close>("close"),
                        StaticMethod<&UdpSocket::LiveHandles>("liveHandles")});
  }

  // new UdpSocket(ctx, onRecv, onWritable, onClose, stats: Float64Array, sendResult: Int32Array)
  // The three callbacks are called with ctx as `this` (prototype methods, no closures).
  explicit UdpSocket(const Napi::CallbackInfo& info) : Napi::ObjectWrap<UdpSocket>(info), env_(info.Env()) {
    STT_ASSERT(info[0].IsObject() && info[1].IsFunction() && info[2].IsFunction() && info[3].IsFunction());
    ctx_ = MakeRef(info[0]);
    on_recv_ = MakeRef(info[1]);
    on_writable_ = MakeRef(info[2]);
    on_close_ = MakeRef(info[3]);
    Span<double> stats = SpanOf<double>(env_, info[4], napi_float64_array);
    Span<int32_t> result = SpanOf<int32_t>(env_, info[5], napi_int32_array);
    STT_ASSERT(stats.length >= STAT_COUNT && result.length >= SEND_RESULT_COUNT);
    stats_ = stats.data;
    result_ = result.data;
    stats_ref_ = MakeRef(info[4]);
    result_ref_ = MakeRef(info[5]);
    napi_value name;
    napi_create_string_utf8(env_, "STTUdpSocket", NAPI_AUTO_LENGTH, &name);
    napi_async_init(env_, info[0], name, &async_context_);
  }

  ~UdpSocket() override {
    // Reached after close (the object is pinned while open) or at env teardown.
    Unlist();
    ReleaseRefs();
  }

  // sendOne's work on the arguments from info[first] on (the method, or udpSendOne after its id).
  Napi::Value SendOneAt(const Napi::CallbackInfo& info, size_t first) {
    STT_ASSERT(opened_ && !closing_);
    Span<uint8_t> slab = BytesOf(env_, info[first]);
    const uint32_t offset = U32Arg(info, first + 1), length = U32Arg(info, first + 2);
    Span<uint32_t> dest = U32Of(env_, info[first + 3]);
    STT_ASSERT(dest.length >= ADDR_STRIDE);
    uint32_t n = core_.SendBatch(slab.data, slab.length, &offset, &length, 1, dest.data, stats_, result_);
    return Napi::Number::New(env_, n);
  }

 private:
  void Unlist() {
    if (table_ && id_ > 0) table_->Remove(id_);
    id_ = -1;
  }

  // id() -> this socket's handle for udpSendOne while it is open, -1 before open and once closing.
  Napi::Value Id(const Napi::CallbackInfo&) { return Napi::Number::New(env_, id_); }

  napi_ref MakeRef(napi_value v) {
    napi_ref r = nullptr;
    napi_create_reference(env_, v, 1, &r);
    return r;
  }

  static void DropRef(napi_env env, napi_ref* r) {
    if (*r != nullptr) napi_delete_reference(env, *r);
    *r = nullptr;
  }

  void ReleaseRecvRefs() {
    for (napi_ref* r : {&slab_ref_, &offsets_ref_, &lengths_ref_, &addrs_ref_}) DropRef(env_, r);
    target_ = RecvTarget{};
  }

  void ReleaseRefs() {
    ReleaseRecvRefs();
    for (napi_ref* r : {&ctx_, &on_recv_, &on_writable_, &on_close_, &stats_ref_, &result_ref_}) DropRef(env_, r);
    if (async_context_ != nullptr) napi_async_destroy(env_, async_context_);
    async_context_ = nullptr;
  }

  // open(family, addr: Uint8Array(16), port, recvBuffer, sendBuffer, gso, gro, debugFlags, adoptFd = -1)
  //   -> { errno, port, recvBufferSize, sendBufferSize, caps }
  Napi::Value Open(const Napi::CallbackInfo& info) {
    STT_ASSERT(!opened_);
    const uint32_t family = U32Arg(info, 0);
    Span<uint8_t> addr = BytesOf(env_, info[1]);
    STT_ASSERT(addr.length == 16);
    OpenResult r = core_.Open(static_cast<int>(family), addr.data, static_cast<uint16_t>(U32Arg(info, 2)),
                              static_cast<int>(U32Arg(info, 3)), static_cast<int>(U32Arg(info, 4)),
                              info[5].ToBoolean().Value(), info[6].ToBoolean().Value(), U32Arg(info, 7),
                              info.Length() > 8 && info[8].IsNumber() ? info[8].As<Napi::Number>().Int32Value() : -1);
    Napi::Object out = Napi::Object::New(env_);
    out.Set("errno", Napi::Number::New(env_, r.err));
    out.Set("port", Napi::Number::New(env_, r.port));
    out.Set("recvBufferSize", Napi::Number::New(env_, r.recv_buffer));
    out.Set("sendBufferSize", Napi::Number::New(env_, r.send_buffer));
    out.Set("caps", Napi::Number::New(env_, core_.caps()));
    if (r.err != 0) return out;

    uv_loop_t* loop = nullptr;
    napi_get_uv_event_loop(env_, &loop);
    STT_ASSERT(uv_poll_init_socket(loop, &poll_, core_.fd()) == 0);
    poll_.data = this;
    opened_ = true;
    g_live_handles++;
    Ref();  // pinned until the handle is closed
    napi_add_async_cleanup_hook(env_, OnEnvTeardown, this, &cleanup_hook_);
    table_ = GetAddonData(env_)->udp_sockets;
    id_ = table_->Add(this);
    return out;
  }

  // setReceiveBuffers(slab: Uint8Array, slotSize, offsets: Uint32Array, lengths: Uint32Array,
  //                   addrs: Uint32Array) — may be called again (also from inside onRecv).
  void SetReceiveBuffers(const Napi::CallbackInfo& info) {
    Span<uint8_t> slab = BytesOf(env_, info[0]);
    const uint32_t slot = U32Arg(info, 1);
    Span<uint32_t> offsets = U32Of(env_, info[2]), lengths = U32Of(env_, info[3]), addrs = U32Of(env_, info[4]);
    STT_ASSERT(slot > 0 && slab.length >= slot && offsets.length > 0 && lengths.length >= offsets.length &&
               addrs.length >= offsets.length * ADDR_STRIDE);
    ReleaseRecvRefs();
    slab_ref_ = MakeRef(info[0]);
    offsets_ref_ = MakeRef(info[2]);
    lengths_ref_ = MakeRef(info[3]);
    addrs_ref_ = MakeRef(info[4]);
    target_ = RecvTarget{slab.data, slab.length, slot, offsets.data, lengths.data, addrs.data,
                         static_cast<uint32_t>(offsets.length)};
  }

  // start(): begin delivering datagrams to onRecv.
  void Start(const Napi::CallbackInfo&) {
    STT_ASSERT(opened_ && !closing_ && target_.slab != nullptr);
    reading_ = true;
    UpdatePoll();
  }

  // send(slab, offsets, lengths, count, dest: Uint32Array(ADDR_STRIDE)) -> datagrams processed
  // (details in the sendResult array).
  Napi::Value Send(const Napi::CallbackInfo& info) {
    STT_ASSERT(opened_ && !closing_);
    Span<uint8_t> slab = BytesOf(env_, info[0]);
    Span<uint32_t> offsets = U32Of(env_, info[1]), lengths = U32Of(env_, info[2]);
    const uint32_t count = U32Arg(info, 3);
    Span<uint32_t> dest = U32Of(env_, info[4]);
    STT_ASSERT(count <= offsets.length && count <= lengths.length && dest.length >= ADDR_STRIDE);
    uint32_t n = core_.SendBatch(slab.data, slab.length, offsets.data, lengths.data, count, dest.data, stats_, result_);
    return Napi::Number::New(env_, n);
  }

  // sendOne(slab, offset, length, dest) -> datagrams processed (0 or 1): send of the one datagram
  // at slab[offset, offset + length), without the offsets and lengths arrays to look up
  // (napi_get_typedarray_info, ~350 instructions each; a ping-pong sends one per call, issue 13).
  Napi::Value SendOne(const Napi::CallbackInfo& info) { return SendOneAt(info, 0); }

  // sendMulti(slab, offsets, lengths, count, dests: Uint32Array(count * ADDR_STRIDE)) -> datagrams
  // processed; datagram k goes to the record at dests[k * ADDR_STRIDE] (details in sendResult).
  Napi::Value SendMulti(const Napi::CallbackInfo& info) {
    STT_ASSERT(opened_ && !closing_);
    Span<uint8_t> slab = BytesOf(env_, info[0]);
    Span<uint32_t> offsets = U32Of(env_, info[1]), lengths = U32Of(env_, info[2]);
    const uint32_t count = U32Arg(info, 3);
    Span<uint32_t> dests = U32Of(env_, info[4]);
    STT_ASSERT(count <= offsets.length && count <= lengths.length &&
               dests.length >= static_cast<size_t>(count) * ADDR_STRIDE);
    uint32_t n = core_.SendMulti(slab.data, slab.length, offsets.data, lengths.data, count, dests.data, stats_, result_);
    return Napi::Number::New(env_, n);
  }

  // armWritable(): call onWritable once, the next time the socket can take more.
  void ArmWritable(const Napi::CallbackInfo&) {
    STT_ASSERT(opened_ && !closing_);
    want_writable_ = true;
    UpdatePoll();
  }

  Napi::Value Caps(const Napi::CallbackInfo&) { return Napi::Number::New(env_, core_.caps()); }

  // setRef(bool): whether the open socket keeps the event loop alive (like dgram ref/unref).
  void SetRef(const Napi::CallbackInfo& info) {
    STT_ASSERT(opened_);
    if (closing_) return;
    if (info[0].ToBoolean().Value())
      uv_ref(reinterpret_cast<uv_handle_t*>(&poll_));
    else
      uv_unref(reinterpret_cast<uv_handle_t*>(&poll_));
  }

  // close() -> false when already closing/closed; onClose() follows once the handle is closed.
  Napi::Value Close(const Napi::CallbackInfo&) {
    if (!opened_ || closing_) return Napi::Boolean::New(env_, false);
    BeginClose();
    return Napi::Boolean::New(env_, true);
  }

  static Napi::Value LiveHandles(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), g_live_handles.load());
  }

  void UpdatePoll() {
    int events = (reading_ ? UV_READABLE : 0) | (want_writable_ ? UV_WRITABLE : 0);
    if (events == 0)
      uv_poll_stop(&poll_);
    else
      STT_ASSERT(uv_poll_start(&poll_, events, OnPoll) == 0);
  }

  void BeginClose() {
    closing_ = true;
    Unlist();  // from now on udpSendOne answers -1 for this id
    uv_poll_stop(&poll_);
    uv_close(reinterpret_cast<uv_handle_t*>(&poll_), OnHandleClosed);
  }

  static void OnPoll(uv_poll_t* handle, int status, int events) {
    auto* self = static_cast<UdpSocket*>(handle->data);
    if (self->closing_) return;
    if (status < 0) {  // e.g. EBADF: nothing useful to retry; count it and let TS decide
      self->stats_[STAT_RECV_ERRORS] += 1;
      return;
    }
    if (events & UV_WRITABLE) {
      self->want_writable_ = false;
      self->UpdatePoll();
      if (!CallJs(self->env_, self->async_context_, self->ctx_, self->on_writable_, 0, nullptr)) return;
      if (self->closing_) return;
    }
    if (events & UV_READABLE) self->DrainReadable();
  }

  void DrainReadable() {
    for (int round = 0; round < kMaxRecvRounds && reading_ && !closing_; round++) {
      bool more = false;
      const uint32_t n = core_.RecvRound(target_, stats_, &more);
      if (n > 0) {
        stats_[STAT_RECV_CALLBACKS] += 1;
        // (count, backlog, receivedAt): backlog 1 when this round filled every slot, so the
        // socket may hold more than we read (the core sheds flooded HELLOs first then:
        // Endpoint.handleBatch); receivedAt is uv_hrtime in ms, the clock performance.now()
        // reads, taken here so the driver needs no clock read of its own for the batch (issue 13).
        const double args[3] = {static_cast<double>(n), more ? 1.0 : 0.0, HrtimeMs()};
        // Stop this turn if the callback threw (it is now an uncaught exception) or closed us.
        if (!CallJs(env_, async_context_, ctx_, on_recv_, 3, args)) return;
      }
      if (!more) return;
    }
  }

  static void OnHandleClosed(uv_handle_t* handle) {
    auto* self = static_cast<UdpSocket*>(handle->data);
    self->core_.Close();
    g_live_handles--;
    if (self->teardown_) {
      // Environment teardown: no JavaScript, no references; Node frees those with the env.
      napi_remove_async_cleanup_hook(self->cleanup_hook_);
      return;
    }
    napi_remove_async_cleanup_hook(self->cleanup_hook_);
    self->cleanup_hook_ = nullptr;
    self->reading_ = false;
    // onClose runs under a handle scope of its own; the object is unpinned after it returns.
    CallJs(self->env_, self->async_context_, self->ctx_, self->on_close_, 0, nullptr);
    Napi::HandleScope scope(self->env_);
    self->ReleaseRecvRefs();
    self->Unref();
  }

  static void OnEnvTeardown(napi_async_cleanup_hook_handle handle, void* arg) {
    auto* self = static_cast<UdpSocket*>(arg);
    self->teardown_ = true;
    self->cleanup_hook_ = handle;
    // A close already in flight finishes in OnHandleClosed, which removes the hook.
    if (!self->closing_) self->BeginClose();
  }

  napi_env env_;
  std::shared_ptr<UdpSocketTable> table_;
  double id_ = -1;
  UdpCore core_;
  uv_poll_t poll_{};
  napi_async_context async_context_ = nullptr;
  napi_async_cleanup_hook_handle cleanup_hook_ = nullptr;
  napi_ref ctx_ = nullptr, on_recv_ = nullptr, on_writable_ = nullptr, on_close_ = nullptr;
  napi_ref stats_ref_ = nullptr, result_ref_ = nullptr;
  napi_ref slab_ref_ = nullptr, offsets_ref_ = nullptr, lengths_ref_ = nullptr, addrs_ref_ = nullptr;
  RecvTarget target_;
  double* stats_ = nullptr;
  int32_t* result_ = nullptr;
  bool opened_ = false, reading_ = false, want_writable_ = false, closing_ = false, teardown_ = false;
};

// hrtimeMs() -> uv_hrtime() in ms: what onRecv's receivedAt counts in, read from JavaScript
// to place that clock against performance.now() (src/clock.ts).
Napi::Value HrtimeMsFn(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), HrtimeMs()); }

// addrParse(text, out: Uint8Array(16)) -> 4 | 6 | 0 (not an IP literal). inet_pton is the
// canonical parser, so IPv6 keys built from the bytes match whatever spelling was dialled.
Napi::Value AddrParse(const Napi::CallbackInfo& info) {
  std::string text = info[0].As<Napi::String>().Utf8Value();
  Span<uint8_t> out = BytesOf(info.Env(), info[1]);
  STT_ASSERT(out.length >= 16);
  std::memset(out.data, 0, 16);
  int family = 0;
  if (inet_pton(AF_INET, text.c_str(), out.data) == 1)
    family = 4;
  else if (inet_pton(AF_INET6, text.c_str(), out.data) == 1)
    family = 6;
  return Napi::Number::New(info.Env(), family);
}

// addrFormat(family, bytes: Uint8Array(16)) -> canonical text (RFC 5952 for IPv6).
Napi::Value AddrFormat(const Napi::CallbackInfo& info) {
  const uint32_t family = U32Arg(info, 0);
  Span<uint8_t> bytes = BytesOf(info.Env(), info[1]);
  STT_ASSERT(bytes.length >= 16 && (family == 4 || family == 6));
  char buf[INET6_ADDRSTRLEN];
  const char* s = inet_ntop(family == 6 ? AF_INET6 : AF_INET, bytes.data, buf, sizeof buf);
  STT_ASSERT(s != nullptr);
  return Napi::String::New(info.Env(), s);
}

// udpSendOne(id, slab, offset, length, dest) -> datagrams processed (0 or 1), or -1 when no open
// socket has that id: UdpSocket.sendOne, found by id (UdpSocketTable). A non-number id throws.
Napi::Value UdpSendOne(const Napi::CallbackInfo& info) {
  double id;
  if (napi_get_value_double(info.Env(), info[0], &id) != napi_ok) {
    Napi::TypeError::New(info.Env(), "stt_native: socket id must be a number").ThrowAsJavaScriptException();
    return Napi::Value();
  }
  UdpSocket* socket = static_cast<UdpSocketTable*>(info.Data())->Find(id);
  if (socket == nullptr) return Napi::Number::New(info.Env(), -1);
  return socket->SendOneAt(info, 1);
}

}  // namespace

void InitUdpSocket(Napi::Env env, Napi::Object exports, AddonData* data) {
  Napi::Function ctor = UdpSocket::Define(env);
  data->udp_socket_ctor = Napi::Persistent(ctor);
  data->udp_sockets = std::make_shared<UdpSocketTable>();
  exports.Set("udpSendOne", Napi::Function::New<UdpSendOne>(env, "udpSendOne", data->udp_sockets.get()));
  exports.Set("UdpSocket", ctor);
  exports.Set("addrParse", Napi::Function::New<AddrParse>(env, "addrParse"));
  exports.Set("addrFormat", Napi::Function::New<AddrFormat>(env, "addrFormat"));
  exports.Set("hrtimeMs", Napi::Function::New<HrtimeMsFn>(env, "hrtimeMs"));
}

}  // namespace stt
