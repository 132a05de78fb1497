/**
 * AeadBackend 'native': packet protection in C++ (native/aead.cc), one N-API call per batch and
 * one OpenSSL context per key and direction, re-IVed per packet. Arguments are validated here and
 * thrown as typed errors; the addon only asserts. Forged packets are statuses, never throws.
 */
import { ErrorCode, STTConfigError, STTError } from '../errors.js'
import { HEADER_SIZE } from '../protocol/constants.js'
import type { NativeBinding, NativePacketKey } from '../native/binding.js'
import { binding } from '../native/load.js'
import { assertBatch, assertU8 } from '../native/validate.js'
import { type AeadBackend, type CipherSuite, IV_SIZE, KEY_SIZE, type PacketKey, SUITE_ID, TAG_SIZE } from './aead.js'

function assertHeaderSize(op: string, headerSize: unknown): asserts headerSize is number {
  // The nonce reads the packet number at header bytes [PN_OFFSET, PN_OFFSET + 8).
  if (typeof headerSize !== 'number' || !Number.isInteger(headerSize) || headerSize < HEADER_SIZE || headerSize > 0xffff) {
    throw new STTConfigError(`${op}: headerSize must be an integer in [${HEADER_SIZE}, 65535]`)
  }
}

const sealBatchById = binding?.sealBatchById
const openBatchById = binding?.openBatchById
// One-packet forms (a ping-pong's every batch): no offsets / lengths / status arrays for the
// addon to look up, ~350 instructions each (issue 13). Both or neither.
const sealOneById = binding?.sealOneById && binding.openOneById ? binding.sealOneById : undefined
const openOneById = sealOneById ? binding!.openOneById : undefined

class NativePacketKeyImpl implements PacketKey {
  private key: NativePacketKey | null
  /**
   * The key's handle in the addon's table (native/aead_napi.cc, PacketKeyTable): the per-batch
   * calls go through sealBatchById / openBatchById, which skip the napi_unwrap of a method call
   * on the object (~800 instructions per call, one call per packet each way in a ping-pong;
   * issue 13). -1: an addon without them, the methods are used.
   */
  private id = -1

  constructor(
    readonly suite: CipherSuite,
    key: Uint8Array,
    iv: Uint8Array,
    b: NativeBinding,
  ) {
    const id = Object.hasOwn(SUITE_ID, suite) ? SUITE_ID[suite] : undefined
    if (id === undefined) throw new STTConfigError(`unknown cipher suite ${String(suite)}`)
    if (!(key instanceof Uint8Array) || key.length !== KEY_SIZE) throw new STTConfigError(`key must be ${KEY_SIZE} bytes`)
    if (!(iv instanceof Uint8Array) || iv.length !== IV_SIZE) throw new STTConfigError(`iv must be ${IV_SIZE} bytes`)
    try {
      this.key = new b.PacketKey(id, key, iv)
    } catch (err) {
      throw new STTError(ErrorCode.ENCRYPTION, `cannot create a ${suite} key`, { cause: err })
    }
    // The by-id functions of the loaded addon (module constants: no binding field per key).
    if (b === binding && sealBatchById && openBatchById && this.key.id) this.id = this.key.id()
  }

  private live(op: string): NativePacketKey {
    if (this.key === null) throw new STTError(ErrorCode.ENCRYPTION, `${op}: key was destroyed`)
    return this.key
  }

  sealBatch(slab: Uint8Array, offsets: Uint32Array, lengths: Uint32Array, count: number, headerSize: number): void {
    const k = this.live('sealBatch')
    assertHeaderSize('sealBatch', headerSize)
    assertBatch('sealBatch', slab, offsets, lengths, count, headerSize + TAG_SIZE)
    const sealed =
      this.id < 0
        ? k.sealBatch(slab, offsets, lengths, count, headerSize)
        : count === 1 && sealOneById
          ? sealOneById(this.id, slab, offsets[0]!, lengths[0]!, headerSize)
          : sealBatchById!(this.id, slab, offsets, lengths, count, headerSize)
    // -1 (no live key with this id) cannot happen while this.key is set: destroy() clears both.
    if (sealed < 0) throw new STTError(ErrorCode.ENCRYPTION, 'sealBatch: key was destroyed')
    if (sealed !== count) throw new STTError(ErrorCode.ENCRYPTION, `sealBatch: OpenSSL failed on ${count - sealed} packet(s)`)
  }

  openBatch(
    slab: Uint8Array,
    offsets: Uint32Array,
    lengths: Uint32Array,
    count: number,
    headerSize: number,
    status: Uint8Array,
  ): void {
    const k = this.live('openBatch')
    assertHeaderSize('openBatch', headerSize)
    // Short packets are allowed: they come from the network and get status 0.
    assertBatch('openBatch', slab, offsets, lengths, count, 0)
    assertU8('openBatch', 'status', status, count)
    if (this.id < 0) {
      k.openBatch(slab, offsets, lengths, count, headerSize, status)
      return
    }
    // -1 (no live key with this id) cannot happen while this.key is set: destroy() clears both.
    let opened: number
    if (count === 1 && openOneById) status[0] = opened = openOneById(this.id, slab, offsets[0]!, lengths[0]!, headerSize)
    else opened = openBatchById!(this.id, slab, offsets, lengths, count, headerSize, status)
    if (opened < 0) throw new STTError(ErrorCode.ENCRYPTION, 'openBatch: key was destroyed')
  }

  destroy(): void {
    this.key?.destroy()
    this.key = null
    this.id = -1
  }
}

export function createNativeAead(b: NativeBinding): AeadBackend {
  return {
    name: 'native',
    createKey: (suite, key, iv) => new NativePacketKeyImpl(suite, key, iv, b),
  }
}

/** The native backend, or null when the addon is not loaded. */
export const nativeAead: AeadBackend | null = binding ? createNativeAead(binding) : null
