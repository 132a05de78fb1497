/**
 * Pure-TypeScript packet protection on node:crypto (OpenSSL). One cipher object per packet:
 * node:crypto cannot re-key or re-IV an existing cipher, which is why the native backend
 * exists (see bench/README.md for the measured cost).
 */
import { createCipheriv, createDecipheriv } from 'node:crypto'
import { type AeadBackend, type CipherSuite, IV_SIZE, KEY_SIZE, type PacketKey, TAG_SIZE } from './aead.js'
import { PN_OFFSET } from '../protocol/constants.js'
import { ErrorCode, STTError } from '../errors.js'

class JsPacketKey implements PacketKey {
  private readonly nonce = Buffer.alloc(IV_SIZE)
  private readonly key: Buffer
  private readonly iv: Buffer

  constructor(
    readonly suite: CipherSuite,
    key: Uint8Array,
    iv: Uint8Array,
  ) {
    if (key.length !== KEY_SIZE || iv.length !== IV_SIZE) throw new RangeError('bad key or iv length')
    this.key = Buffer.from(key)
    this.iv = Buffer.from(iv)
  }

  /** nonce = iv XOR (0^32 || pn), pn read straight from the header. */
  private setNonce(slab: Uint8Array, off: number): void {
    const n = this.nonce
    const iv = this.iv
    for (let i = 0; i < 4; i++) n[i] = iv[i]!
    for (let i = 0; i < 8; i++) n[4 + i] = iv[4 + i]! ^ slab[off + PN_OFFSET + i]!
  }

  sealBatch(slab: Uint8Array, offsets: Uint32Array, lengths: Uint32Array, count: number, headerSize: number): void {
    if (this.destroyed) throw new STTError(ErrorCode.ENCRYPTION, 'sealBatch: key was destroyed')
    for (let i = 0; i < count; i++) {
      const off = offsets[i]!
      const end = off + lengths[i]!
      this.setNonce(slab, off)
      const c = createCipheriv(this.suite as "aes-256-gcm", this.key, this.nonce, { authTagLength: TAG_SIZE })
      c.setAAD(slab.subarray(off, off + headerSize))
      const body = slab.subarray(off + headerSize, end - TAG_SIZE)
      const out = c.update(body)
      out.copy(body)
      c.final()
      c.getAuthTag().copy(slab, end - TAG_SIZE)
    }
  }

  openBatch(
    slab: Uint8Array,
    offsets: Uint32Array,
    lengths: Uint32Array,
    count: number,
    headerSize: number,
    status: Uint8Array,
  ): void {
    if (this.destroyed) throw new STTError(ErrorCode.ENCRYPTION, 'openBatch: key was destroyed')
    for (let i = 0; i < count; i++) {
      const off = offsets[i]!
      const end = off + lengths[i]!
      status[i] = 0
      if (lengths[i]! < headerSize + TAG_SIZE) continue
      this.setNonce(slab, off)
      try {
        const d = createDecipheriv(this.suite as "aes-256-gcm", this.key, this.nonce, { authTagLength: TAG_SIZE })
        d.setAAD(slab.subarray(off, off + headerSize))
        d.setAuthTag(slab.subarray(end - TAG_SIZE, end))
        const body = slab.subarray(off + headerSize, end - TAG_SIZE)
        const out = d.update(body)
        d.final() // throws on a bad tag
        out.copy(body)
        status[i] = 1
      } catch {
        status[i] = 0
      }
    }
  }

  /**
   * Zeroes this object's copies of the key and IV (issue 10, item 9). node:crypto keeps no
   * cipher context between packets here, so nothing else of the key outlives this call in
   * JavaScript-visible memory; OpenSSL's per-packet contexts are freed (and cleansed by
   * OpenSSL) when each call returns. A destroyed key fails every open and refuses to seal.
   */
  destroy(): void {
    this.key.fill(0)
    this.iv.fill(0)
    this.destroyed = true
  }
  private destroyed = false
}

export const jsAead: AeadBackend = {
  name: 'js',
  createKey: (suite, key, iv) => new JsPacketKey(suite, key, iv),
}
