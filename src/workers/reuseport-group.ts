/**
 * A reuseport group: N UDP sockets on one address and port, one per worker, with the kernel
 * choosing the socket of each datagram by its session id (native/reuseport_cbpf.cc attaches the
 * classic BPF program). The main thread opens the group and keeps its fds for the group's life;
 * each worker reads and sends through a dup of its own (NativeUdpTransport `adoptFd`), so a
 * worker that crashes and is replaced never changes which socket index a session id maps to.
 */
import { lookup } from 'node:dns/promises'
import { ErrorCode, STTConfigError, STTError, STTTransportError } from '../errors.js'
import { binding } from '../native/load.js'
import { SESSION_ID_OFFSET } from '../protocol/wire-constants.js'

/** Largest group (the native side's limit; more workers than this gain nothing on any machine we know). */
export const MAX_GROUP_SOCKETS = 64

/**
 * The worker (socket index) the steering program picks for a session id: the first 4 bytes of
 * the id, big-endian, modulo the group size. Mirrors the BPF program exactly; the worker node
 * uses it to pick session ids for its own outbound sessions, tests to predict the spread.
 */
export function steeredIndex(sessionId: Uint8Array, count: number): number {
  const w = ((sessionId[0]! << 24) | (sessionId[1]! << 16) | (sessionId[2]! << 8) | sessionId[3]!) >>> 0
  return w % count
}

/** Why steering is unavailable here, or null when a group can be opened. */
export function reuseportUnavailableReason(): string | null {
  if (process.platform !== 'linux') return `SO_REUSEPORT steering by session id needs Linux (this is ${process.platform})`
  if (!binding?.reuseportGroupOpen || !binding.UdpSocket) return 'SO_REUSEPORT steering needs the native addon (the pure-TypeScript backend has no socket to share)'
  return null
}

export class ReuseportGroup {
  #fds: number[]
  private constructor(
    readonly host: string,
    readonly family: 4 | 6,
    readonly port: number,
    fds: number[],
  ) {
    this.#fds = fds
  }

  /** Sockets in the group (= workers). */
  get size(): number {
    return this.#fds.length
  }

  /** The fd of socket `index` (a worker adopts a dup of it); -1 after close. */
  fd(index: number): number {
    return this.#fds[index] ?? -1
  }

  static async open(host: string, port: number, count: number): Promise<ReuseportGroup> {
    const why = reuseportUnavailableReason()
    if (why) throw new STTError(ErrorCode.NATIVE_UNAVAILABLE, why)
    if (!Number.isInteger(count) || count < 1 || count > MAX_GROUP_SOCKETS) throw new STTConfigError(`workers must be 1..${MAX_GROUP_SOCKETS}`)
    const b = binding!
    const addr = new Uint8Array(16)
    let family = b.addrParse!(host, addr)
    if (family === 0) family = b.addrParse!((await lookup(host)).address, addr)
    if (family !== 4 && family !== 6) throw new STTConfigError(`cannot bind ${host}: not an IP address`)
    const r = b.reuseportGroupOpen!(family, addr, port, count, SESSION_ID_OFFSET)
    if (r.errno !== 0) {
      if (r.stage === 'bind' && r.errno === 98) throw new STTConfigError(`UDP port ${port} on ${host} is already in use`)
      throw new STTTransportError(ErrorCode.TRANSPORT, `cannot open the reuseport group on ${host}:${port} (${r.stage}: errno ${r.errno})`)
    }
    return new ReuseportGroup(host, family, r.port, r.fds)
  }

  /** Closes the group's sockets (each worker closes its own dup). Idempotent. */
  close(): void {
    if (this.#fds.length === 0) return
    binding!.reuseportGroupClose!(this.#fds)
    this.#fds = []
  }
}
