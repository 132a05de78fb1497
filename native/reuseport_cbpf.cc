// SO_REUSEPORT groups steered by session id (src/workers/reuseport-group.ts).
//
// reuseportGroupOpen binds `count` UDP sockets to one address and port with SO_REUSEPORT, in
// order, so socket i is index i of the kernel's reuseport group, and attaches a classic BPF
// program (SO_ATTACH_REUSEPORT_CBPF) that returns
//
//     index = u32_be(payload[steer_offset .. steer_offset + 4]) mod count
//
// For UDP the kernel runs the program with the packet data starting at the UDP payload, so the
// offset is that of the session id in the cleartext STT header (docs/PROTOCOL.md §2: bytes 3..10;
// we read its first 4 bytes). The session id is chosen at random by the initiator in its HELLO and
// never changes, so the handshake and every later packet of a session reach the same socket,
// whatever the client's address or port (roaming, NAT rebinding), as QUIC load balancers route by
// connection id. A datagram too short for the load makes the program abort, which the kernel
// treats as index 0: garbage lands on worker 0, where it is dropped and counted.
//
// The caller (the main thread) keeps these fds open for the life of the group: each worker reads
// a dup of its own (UdpCore::Open with adopt_fd). Membership of the group therefore never changes
// while a worker is replaced after a crash (the kernel compacts the group's socket array when a
// member closes, which would renumber the others under the program).
#include <errno.h>
#include <linux/filter.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <vector>

#include "bindings.h"
#include "napi_util.h"
#include "udp_socket.h"

#ifndef SO_ATTACH_REUSEPORT_CBPF
#define SO_ATTACH_REUSEPORT_CBPF 51
#endif

namespace stt {
namespace {

constexpr uint32_t kMaxGroupSockets = 64;

// The steering program: A = word at offset; A %= count; return A.
int AttachSteering(int fd, uint32_t steer_offset, uint32_t count) {
  sock_filter code[] = {
      {BPF_LD | BPF_W | BPF_ABS, 0, 0, steer_offset},
      {BPF_ALU | BPF_MOD | BPF_K, 0, 0, count},
      {BPF_RET | BPF_A, 0, 0, 0},
  };
  sock_fprog prog{};
  prog.len = sizeof code / sizeof code[0];
  prog.filter = code;
  return setsockopt(fd, SOL_SOCKET, SO_ATTACH_REUSEPORT_CBPF, &prog, sizeof prog) == 0 ? 0 : errno;
}

void CloseAll(const std::vector<int>& fds) {
  for (int fd : fds) ::close(fd);
}

// reuseportGroupOpen(family, addr: Uint8Array(16), port, count, steerOffset)
//   -> { errno, stage: 'socket' | 'bind' | 'attach' | '', port, fds: number[] }
Napi::Value ReuseportGroupOpen(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const uint32_t family = U32Arg(info, 0);
  Span<uint8_t> addr = BytesOf(env, info[1]);
  uint32_t port = U32Arg(info, 2);
  const uint32_t count = U32Arg(info, 3);
  const uint32_t offset = U32Arg(info, 4);
  STT_ASSERT((family == 4 || family == 6) && addr.length == 16 && port <= 65535 && count >= 1 &&
             count <= kMaxGroupSockets);
  Napi::Object out = Napi::Object::New(env);
  std::vector<int> fds;
  int err = 0;
  const char* stage = "";
  for (uint32_t i = 0; i < count && err == 0; i++) {
    int fd = socket(family == 6 ? AF_INET6 : AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_UDP);
    if (fd < 0) {
      err = errno;
      stage = "socket";
      break;
    }
    const int one = 1;
    if (family == 6) setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0) {
      err = errno;
      stage = "socket";
      ::close(fd);
      break;
    }
    sockaddr_storage ss;
    socklen_t sl = FillSockaddr(static_cast<int>(family), addr.data, static_cast<uint16_t>(port), &ss);
    // Bound one after another: the kernel appends each to the group, so fds[i] is index i.
    if (bind(fd, reinterpret_cast<sockaddr*>(&ss), sl) != 0) {
      err = errno;
      stage = "bind";
      ::close(fd);
      break;
    }
    fds.push_back(fd);
    if (i == 0) {
      // Port 0: the others join the port the first one got. A program attached to any member
      // applies to the whole group; attaching it before the others join means no datagram is
      // ever steered by the default 4-tuple hash once the group has two members.
      sockaddr_storage bound;
      socklen_t bl = sizeof bound;
      getsockname(fd, reinterpret_cast<sockaddr*>(&bound), &bl);
      port = ntohs(family == 6 ? reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port
                               : reinterpret_cast<sockaddr_in*>(&bound)->sin_port);
      err = AttachSteering(fd, offset, count);
      if (err != 0) stage = "attach";
    }
  }
  if (err != 0) {
    CloseAll(fds);
    fds.clear();
  }
  Napi::Array list = Napi::Array::New(env, fds.size());
  for (size_t i = 0; i < fds.size(); i++) list.Set(static_cast<uint32_t>(i), Napi::Number::New(env, fds[i]));
  out.Set("errno", Napi::Number::New(env, err));
  out.Set("stage", Napi::String::New(env, stage));
  out.Set("port", Napi::Number::New(env, err == 0 ? port : 0));
  out.Set("fds", list);
  return out;
}

// reuseportGroupClose(fds: number[]): closes the group's sockets (the workers' dups are theirs).
void ReuseportGroupClose(const Napi::CallbackInfo& info) {
  Napi::Array list = info[0].As<Napi::Array>();
  for (uint32_t i = 0; i < list.Length(); i++) {
    const int fd = list.Get(i).As<Napi::Number>().Int32Value();
    if (fd >= 0) ::close(fd);
  }
}

}  // namespace

void InitReuseport(Napi::Env env, Napi::Object exports) {
  exports.Set("reuseportGroupOpen", Napi::Function::New<ReuseportGroupOpen>(env, "reuseportGroupOpen"));
  exports.Set("reuseportGroupClose", Napi::Function::New<ReuseportGroupClose>(env, "reuseportGroupClose"));
}

}  // namespace stt
