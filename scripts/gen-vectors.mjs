#!/usr/bin/env node
/**
 * Generates the STT v1 protocol test vectors from fixed seeds:
 *   test/vectors/protocol-vectors.json   (checked by test/unit/core-vectors.test.ts)
 *   docs/PROTOCOL-VECTORS.md             (the same, rendered for humans)
 *
 * Run `npm run build` first: this imports the compiled protocol from ../dist. Deterministic:
 * running it twice gives identical files; a diff after a code change means the wire changed.
 *
 * Randomness: every "random" byte comes from drbg(label): the concatenation of
 * SHA-256("STT vectors drbg" || label || u32be(counter)) for counter = 0, 1, ...,
 * consumed in order across calls (so random(8) then random(32) takes bytes 0..7 then 8..39).
 */
import { createHash } from 'node:crypto'
import { mkdirSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const dist = (p) => import(join(root, 'dist', p))
const { resolveProtocolConfig } = await dist('config.js')
const { jsAead } = await dist('crypto/js-aead.js')
const { hkdf, x25519FromPrivate } = await dist('crypto/primitives.js')
const { FrameType, HEADER_SIZE, PacketType } = await dist('protocol/constants.js')
const { encodeFrames } = await dist('protocol/frames.js')
const { writeHeader } = await dist('protocol/header.js')
const { writeVarint, varintSize } = await dist('protocol/varint.js')
const { deriveGroupKeys, deriveIdentity } = await dist('protocol/identity.js')
const { makeKey } = await dist('protocol/packet-keys.js')
const { Endpoint } = await dist('protocol/endpoint.js')
const { InitiatorHandshake } = await dist('protocol/handshake.js')

const hex = (b) => Buffer.from(b).toString('hex')
const utf8 = (s) => new Uint8Array(Buffer.from(s, 'utf8'))
const sha256 = (s) => new Uint8Array(createHash('sha256').update(s).digest())

export function drbg(label) {
  let counter = 0
  let buf = Buffer.alloc(0)
  return (n) => {
    while (buf.length < n) {
      const c = Buffer.alloc(4)
      c.writeUInt32BE(counter++)
      buf = Buffer.concat([buf, createHash('sha256').update('STT vectors drbg').update(label).update(c).digest()])
    }
    const out = new Uint8Array(buf.subarray(0, n))
    buf = buf.subarray(n)
    return out
  }
}

// ---------------------------------------------------------------------------------------
// Fixed inputs
// ---------------------------------------------------------------------------------------
const NOW = 1_700_000_000_000
const SHARED_SEED = sha256('STT vectors shared seed')
const NODE_SEED_I = sha256('STT vectors node seed initiator')
const NODE_SEED_R = sha256('STT vectors node seed responder')
const TRAFFIC_SECRET = sha256('STT vectors traffic secret')
const SESSION_ID = new Uint8Array([0x5e, 0x55, 0x10, 0x4e, 0x1d, 0x00, 0x00, 0x01])
/** Every option that reaches the wire (handshake parameters), pinned so default changes don't move the vectors. */
const WIRE_OPTIONS = { maxConcurrentStreams: 256, streamReceiveWindow: 1 << 20, sessionReceiveWindow: 16 << 20, maxPacketSize: 1472 }

// ---------------------------------------------------------------------------------------
// Varints (RFC 9000 §16 examples plus the boundaries; values above 2^53-1 are refused)
// ---------------------------------------------------------------------------------------
const varintValues = [0, 1, 37, 63, 64, 15293, 16383, 16384, 494878333, 2 ** 30 - 1, 2 ** 30, 2 ** 32, Number.MAX_SAFE_INTEGER]
const varints = varintValues.map((value) => {
  const b = new Uint8Array(varintSize(value))
  writeVarint(b, 0, value)
  return { value, hex: hex(b) }
})
const varintNonMinimal = [
  { hex: '4025', value: 37 },
  { hex: '80000025', value: 37 },
  { hex: 'c000000000000025', value: 37 },
]
const varintRejected = [
  { hex: 'c2197c5eff14e88c', why: 'RFC 9000 example 151288809941952652 > 2^53-1' },
  { hex: 'c020000000000000', why: '2^53 > 2^53-1' },
  { hex: '40', why: 'truncated 2-byte varint' },
  { hex: '9d7f3e', why: 'truncated 4-byte varint' },
  { hex: '', why: 'empty' },
]

// ---------------------------------------------------------------------------------------
// Header and frames
// ---------------------------------------------------------------------------------------
const headerFields = { version: 1, type: PacketType.DATA, flags: 1, sessionId: hex(SESSION_ID), packetNumber: 0x0102030405 }
const headerBytes = new Uint8Array(HEADER_SIZE)
writeHeader(headerBytes, 0, headerFields.version, headerFields.type, headerFields.flags, SESSION_ID, headerFields.packetNumber)

/** Frames with `data` as hex (JSON); fromJson turns them back into codec objects. */
const frameSpecs = [
  ['PADDING', { type: FrameType.PADDING, length: 3 }],
  ['DATA (stream)', { type: FrameType.DATA, datagram: false, streamKey: 9, offset: 1000, data: hex(utf8('hello')) }],
  ['DATA (datagram)', { type: FrameType.DATA, datagram: true, streamKey: 0, offset: 0, data: hex(utf8('dgram')) }],
  ['ACK', { type: FrameType.ACK, ackDelayMicros: 250, ranges: [[95, 100], [80, 90], [10, 10]] }],
  ['NACK', { type: FrameType.NACK, packetNumbers: [3, 70, 20000] }],
  ['KEEP_ALIVE', { type: FrameType.KEEP_ALIVE, data: '0001020304050607' }],
  ['KEEP_ALIVE_ACK', { type: FrameType.KEEP_ALIVE_ACK, data: '0001020304050607' }],
  ['STREAM_OPEN', { type: FrameType.STREAM_OPEN, streamKey: 8, priority: 3 }],
  ['STREAM_CLOSE', { type: FrameType.STREAM_CLOSE, streamKey: 9, errorCode: 0x0301, finalSize: 123456 }],
  ['STREAM_FIN', { type: FrameType.STREAM_FIN, streamKey: 8, finalSize: 70000 }],
  ['STREAM_CREDIT', { type: FrameType.STREAM_CREDIT, streamKey: 8, maxOffset: 1 << 20 }],
  ['SESSION_CREDIT', { type: FrameType.SESSION_CREDIT, maxData: 16 << 20 }],
  ['STREAMS_CREDIT', { type: FrameType.STREAMS_CREDIT, maxStreams: 256 }],
  ['SESSION_CLOSE', { type: FrameType.SESSION_CLOSE, errorCode: 0, reason: 'bye' }],
  ['ERROR', { type: FrameType.ERROR, errorCode: 0x0401, frameType: 0x10, reason: 'bad frame' }],
  ['APP (0x80)', { type: 0x80, app: true, data: hex(utf8('app')) }],
]
export function fromJson(f) {
  return typeof f.data === 'string' ? { ...f, data: new Uint8Array(Buffer.from(f.data, 'hex')) } : { ...f }
}
const frames = frameSpecs.map(([name, frame]) => ({ name, frame, hex: hex(encodeFrames([fromJson(frame)])) }))

// ---------------------------------------------------------------------------------------
// Identity, packet keys, key update, protected packets
// ---------------------------------------------------------------------------------------
const group = deriveGroupKeys(SHARED_SEED)
const idI = deriveIdentity(NODE_SEED_I)
const identity = {
  sharedSeed: hex(SHARED_SEED),
  psk: hex(group.psk),
  helloMacKey: hex(group.helloMacKey),
  nodeSeed: hex(NODE_SEED_I),
  staticPrivate: hex(hkdf(NODE_SEED_I, 'STT v1', 'static x25519', 32)),
  staticPublic: hex(idI.staticKey.publicKey),
  nodeId: hex(idI.nodeId),
}
if (hex(x25519FromPrivate(Buffer.from(identity.staticPrivate, 'hex')).publicKey) !== identity.staticPublic) throw new Error('identity mismatch')

const keyOf = (secret) => ({ secret: hex(secret), key: hex(hkdf(secret, 'STT v1', 'key', 32)), iv: hex(hkdf(secret, 'STT v1', 'iv', 12)) })
const keyUpdate = [keyOf(TRAFFIC_SECRET)]
for (let i = 0; i < 2; i++) keyUpdate.push(keyOf(hkdf(Buffer.from(keyUpdate[i].secret, 'hex'), 'STT v1', 'ku', 32)))

const packetFrames = [
  { type: FrameType.ACK, ackDelayMicros: 1000, ranges: [[0, 7]] },
  { type: FrameType.DATA, datagram: true, streamKey: 0, offset: 0, data: hex(utf8('ping')) },
  { type: FrameType.KEEP_ALIVE, data: 'a0a1a2a3a4a5a6a7' },
]
function protect(suite, secret, phase, pn) {
  const plaintext = encodeFrames(packetFrames.map(fromJson))
  const pkt = new Uint8Array(HEADER_SIZE + plaintext.length + 16)
  writeHeader(pkt, 0, 1, PacketType.DATA, phase, SESSION_ID, pn)
  pkt.set(plaintext, HEADER_SIZE)
  const header = hex(pkt.subarray(0, HEADER_SIZE))
  const k = makeKey(jsAead, suite, secret, phase)
  k.key.sealBatch(pkt, new Uint32Array([0]), new Uint32Array([pkt.length]), 1, HEADER_SIZE)
  const iv = hkdf(secret, 'STT v1', 'iv', 12)
  const nonce = iv.slice()
  for (let i = 0; i < 8; i++) nonce[4 + i] ^= pkt[11 + i]
  return { suite, secret: hex(secret), keyPhase: phase, sessionId: hex(SESSION_ID), packetNumber: pn, frames: packetFrames, header, plaintext: hex(plaintext), nonce: hex(nonce), packet: hex(pkt) }
}
const secret1 = Buffer.from(keyUpdate[1].secret, 'hex')
const packets = []
for (const suite of ['aes-256-gcm', 'chacha20-poly1305']) {
  packets.push(protect(suite, TRAFFIC_SECRET, 0, 7))
  packets.push(protect(suite, secret1, 1, 2 ** 40 + 5))
}

// ---------------------------------------------------------------------------------------
// Whole handshake over two Endpoints (HELLO, CHALLENGE, AUTH_PROOF, FINAL)
// ---------------------------------------------------------------------------------------
function simAddress(name) {
  return { key: `sim:${name}`, transport: { kind: 'sim', reliable: false }, toString: () => `sim://${name}` }
}
function takeOne(ep, now) {
  const tx = ep.pollTransmit(now)
  if (!tx || tx.count !== 1) throw new Error('expected exactly one datagram')
  const out = tx.slab.slice(tx.offsets[0], tx.offsets[0] + tx.lengths[0])
  if (ep.pollTransmit(now)) throw new Error('expected nothing more')
  return out
}
function deliver(ep, now, data, from) {
  const slab = data.slice()
  ep.handleBatch(now, { slab, offsets: new Uint32Array([0]), lengths: new Uint32Array([slab.length]), count: 1, from: [from] })
}
function handshake(initiatorCiphers) {
  const label = `handshake ${initiatorCiphers.join(',')}`
  const rndI = drbg(`${label} initiator`)
  const rndR = drbg(`${label} responder`)
  const cfgI = resolveProtocolConfig({ ...WIRE_OPTIONS, sharedSeed: SHARED_SEED, nodeSeed: NODE_SEED_I, name: 'initiator', ciphers: initiatorCiphers }, rndI)
  const cfgR = resolveProtocolConfig({ ...WIRE_OPTIONS, sharedSeed: SHARED_SEED, nodeSeed: NODE_SEED_R, name: 'responder' }, rndR)
  const a = new Endpoint(cfgI, jsAead, rndI, NOW)
  const b = new Endpoint(cfgR, jsAead, rndR, NOW)
  const addrI = simAddress('initiator')
  const addrR = simAddress('responder')
  a.connect(NOW, addrR)
  const hello = takeOne(a, NOW)
  deliver(b, NOW + 5, hello, addrI)
  const challenge = takeOne(b, NOW + 5)
  deliver(a, NOW + 10, challenge, addrR)
  const authProof = takeOne(a, NOW + 10)
  deliver(b, NOW + 15, authProof, addrI)
  const final = takeOne(b, NOW + 15)
  deliver(a, NOW + 20, final, addrR)
  const ev = a.pollEvent()
  if (ev?.type !== 'connected') throw new Error(`handshake did not complete: ${ev?.type}`)

  // The traffic secrets, from the pure initiator functions fed the same randomness and bytes.
  const rnd2 = drbg(`${label} initiator`) // cookie keys are made on first use: the initiator drew none
  const params = { maxStreams: cfgI.maxConcurrentStreams, streamWindow: cfgI.streamReceiveWindow, sessionWindow: cfgI.sessionReceiveWindow, bareMode: false, maxPacketSize: cfgI.maxPacketSize }
  const hs = new InitiatorHandshake({ group: deriveGroupKeys(SHARED_SEED), identity: deriveIdentity(NODE_SEED_I) }, { name: 'initiator', params }, initiatorCiphers, rnd2)
  if (hex(hs.createHello(NOW)) !== hex(hello)) throw new Error('handshake functions disagree with the endpoint on HELLO')
  const out = hs.consumeChallenge(challenge, challenge[2])
  if (out.kind !== 'proof' || hex(out.packet) !== hex(authProof)) throw new Error('handshake functions disagree with the endpoint on AUTH_PROOF')
  // The traffic secrets depend on the responder random that trails FINAL (PROTOCOL.md §3.6).
  const r = hs.finish(final.subarray(final.length - 32))
  if (!r) throw new Error('FINAL random rejected')
  return {
    initiatorCiphers,
    options: WIRE_OPTIONS,
    now: NOW,
    times: { hello: NOW, challenge: NOW + 5, authProof: NOW + 10, final: NOW + 15, confirmed: NOW + 20 },
    randomLabels: { initiator: `${label} initiator`, responder: `${label} responder` },
    initiator: { nodeSeed: hex(NODE_SEED_I), name: 'initiator', address: addrI.key, nodeId: hex(a.nodeId) },
    responder: { nodeSeed: hex(NODE_SEED_R), name: 'responder', address: addrR.key, nodeId: hex(b.nodeId) },
    hello: hex(hello),
    challenge: hex(challenge),
    authProof: hex(authProof),
    final: hex(final),
    finalRandom: hex(r.finalRandom),
    suite: r.suite,
    sessionId: hex(r.sessionId),
    transcriptHash: hex(r.transcript),
    i2r: keyOf(r.i2r),
    r2i: keyOf(r.r2i),
  }
}
const handshakes = [handshake(['aes-256-gcm', 'chacha20-poly1305']), handshake(['chacha20-poly1305', 'aes-256-gcm'])]

const vectors = {
  description: 'STT v1 protocol test vectors; generated by scripts/gen-vectors.mjs, checked by test/unit/core-vectors.test.ts. All byte strings are hex.',
  drbg: 'random(n) = next n bytes of SHA-256("STT vectors drbg" || label || u32be(counter)), counter = 0, 1, ...',
  varints,
  varintNonMinimal,
  varintRejected,
  header: { fields: headerFields, hex: hex(headerBytes) },
  frames,
  identity,
  keyUpdate,
  packets,
  handshakes,
}

mkdirSync(join(root, 'test/vectors'), { recursive: true })
writeFileSync(join(root, 'test/vectors/protocol-vectors.json'), JSON.stringify(vectors, null, 2) + '\n')
mkdirSync(join(root, 'docs'), { recursive: true })
writeFileSync(join(root, 'docs/PROTOCOL-VECTORS.md'), renderMarkdown(vectors))
console.log('wrote test/vectors/protocol-vectors.json and docs/PROTOCOL-VECTORS.md')

// ---------------------------------------------------------------------------------------
// Markdown rendering
// ---------------------------------------------------------------------------------------
function renderMarkdown(v) {
  const out = []
  const w = (s = '') => out.push(s)
  const wrap = (h) => (h.length ? h.match(/.{1,64}/g).join('\n') : '(empty)')
  const block = (h) => w('```\n' + wrap(h) + '\n```')
  /** Splits a hex string into named fields of the given byte lengths (-1: the rest, -2: up to the last 16 bytes). */
  const fields = (h, spec) => {
    let pos = 0
    w('| field | bytes | hex |')
    w('| --- | --- | --- |')
    for (const [name, len] of spec) {
      const n = len === -1 ? h.length / 2 - pos : len === -2 ? h.length / 2 - 16 - pos : len
      const part = h.slice(pos * 2, (pos + n) * 2)
      w(`| ${name} | ${n} | ${n > 48 ? '`' + part.slice(0, 32) + '…' + part.slice(-16) + '` (see full dump)' : '`' + part + '`'} |`)
      pos += n
    }
  }
  const hdr = [['version', 1], ['type', 1], ['flags', 1], ['session id', 8], ['packet number (u64 BE)', 8]]
  w('# STT v1 protocol test vectors')
  w()
  w('Generated by `scripts/gen-vectors.mjs` (run `npm run build` first) from fixed seeds; the same data as')
  w('`test/vectors/protocol-vectors.json`, which `test/unit/core-vectors.test.ts` checks both ways')
  w('(encode(fields) == bytes, decode(bytes) == fields, and the handshake reproduces byte for byte).')
  w('Any change of the wire format must regenerate these files deliberately. All byte strings are hex.')
  w()
  w(`Randomness: ${v.drbg}.`)
  w()
  w('## 1. Varints (RFC 9000 §16, values limited to 2^53-1)')
  w()
  w('| value | encoding |')
  w('| --- | --- |')
  for (const x of v.varints) w(`| ${x.value} | \`${x.hex}\` |`)
  w()
  w('Non-minimal encodings decode to their value: ' + v.varintNonMinimal.map((x) => `\`${x.hex}\` = ${x.value}`).join(', ') + '.')
  w()
  w('Rejected by the decoder (malformed): ' + v.varintRejected.map((x) => `\`${x.hex || '(empty)'}\` (${x.why})`).join('; ') + '.')
  w()
  w('## 2. Packet header (19 bytes)')
  w()
  w('Fields: `' + JSON.stringify(v.header.fields) + '`')
  w()
  fields(v.header.hex, hdr)
  w()
  w('## 3. Frames (one frame per row, encoded alone)')
  w()
  w('| frame | fields | encoding |')
  w('| --- | --- | --- |')
  for (const f of v.frames) w(`| ${f.name} | \`${JSON.stringify(f.frame)}\` | \`${f.hex}\` |`)
  w()
  w('## 4. Identity and group keys')
  w()
  w('psk = HKDF(sharedSeed, salt "STT v1", info "psk", 32); helloMacKey = HKDF(sharedSeed, "STT v1", "hello mac", 32);')
  w('static private = HKDF(nodeSeed, "STT v1", "static x25519", 32); node id = SHA3-256("STT node id v1" || static public).')
  w()
  w('| name | hex |')
  w('| --- | --- |')
  for (const [k, x] of Object.entries(v.identity)) w(`| ${k} | \`${x}\` |`)
  w()
  w('## 5. Packet keys and key update')
  w()
  w('key = HKDF(secret, "STT v1", "key", 32); iv = HKDF(secret, "STT v1", "iv", 12); next secret = HKDF(secret, "STT v1", "ku", 32).')
  w()
  w('| phase step | secret | key | iv |')
  w('| --- | --- | --- | --- |')
  v.keyUpdate.forEach((k, i) => w(`| ${i} | \`${k.secret}\` | \`${k.key}\` | \`${k.iv}\` |`))
  w()
  w('## 6. Protected packets')
  w()
  w('nonce = iv XOR (0^4 || packet number); AAD = the 19-byte header; packet = header || AEAD(frames) || tag(16).')
  w()
  for (const p of v.packets) {
    w(`### ${p.suite}, key phase ${p.keyPhase}, pn ${p.packetNumber}`)
    w()
    w(`secret \`${p.secret}\`, nonce \`${p.nonce}\`. Frames: \`${JSON.stringify(p.frames)}\``)
    w()
    fields(p.packet, [...hdr, ['ciphertext', -2], ['tag', 16]])
    w()
    w('plaintext frames:')
    block(p.plaintext)
    w('packet:')
    block(p.packet)
  }
  w('## 7. Handshake transcripts')
  w()
  w('Two Endpoints (initiator, responder) each draw randomness from their own drbg label; the initiator')
  w('connects at `now`, each message is handled 5 ms after the previous one was sent.')
  w()
  for (const hs of v.handshakes) {
    w(`### initiator ciphers ${hs.initiatorCiphers.join(', ')} -> ${hs.suite}`)
    w()
    w(`options (both sides): \`${JSON.stringify(hs.options)}\``)
    w()
    w(`now = ${hs.now}; random labels: initiator "${hs.randomLabels.initiator}", responder "${hs.randomLabels.responder}";`)
    w(`initiator node seed \`${hs.initiator.nodeSeed}\` (address \`${hs.initiator.address}\`, node id \`${hs.initiator.nodeId}\`);`)
    w(`responder node seed \`${hs.responder.nodeSeed}\` (address \`${hs.responder.address}\`, node id \`${hs.responder.nodeId}\`).`)
    w()
    const suites = parseInt(hs.hello.slice((19 + 56) * 2, (19 + 56) * 2 + 2), 16) + 1
    w(`**HELLO** (${hs.hello.length / 2} bytes)`)
    w()
    fields(hs.hello, [...hdr, ['initiator ephemeral e', 32], ['nonce', 16], ['timestamp ms (u64 BE)', 8], ['suites (count, ids)', suites], ['token length', 1], ['zero padding', -2], ['HELLO MAC (HMAC-SHA256/16)', 16]])
    block(hs.hello)
    const payLen = parseInt(hs.challenge.slice((19 + 96) * 2, (19 + 98) * 2), 16)
    w(`**CHALLENGE** (${hs.challenge.length / 2} bytes)`)
    w()
    fields(hs.challenge, [...hdr, ['echoed HELLO nonce', 16], ['responder ephemeral e', 32], ['enc(responder static s)', 48], ['payload length (u16)', 2], ['enc(payload: suite, params, name)', payLen], ['cookie length', 1], ['cookie (nonce 12 || sealed state)', -1]])
    block(hs.challenge)
    const cookieLen = parseInt(hs.authProof.slice(19 * 2, 20 * 2), 16)
    w(`**AUTH_PROOF** (${hs.authProof.length / 2} bytes)`)
    w()
    fields(hs.authProof, [...hdr, ['cookie length', 1], ['cookie', cookieLen], ['enc(initiator static s)', 48], ['payload length (u16)', 2], ['enc(payload: params, name)', -1]])
    block(hs.authProof)
    w(`**FINAL** (${hs.final.length / 2} bytes, sealed with the r2i key; the responder random trails the tag)`)
    w()
    fields(hs.final, [...hdr, ['ciphertext', hs.final.length / 2 - 19 - 16 - 32], ['tag', 16], ['responder FINAL random', 32]])
    block(hs.final)
    w('Result:')
    w()
    w('| name | hex |')
    w('| --- | --- |')
    w(`| session id | \`${hs.sessionId}\` |`)
    w(`| transcript hash | \`${hs.transcriptHash}\` |`)
    for (const d of ['i2r', 'r2i']) for (const k of ['secret', 'key', 'iv']) w(`| ${d} ${k} | \`${hs[d][k]}\` |`)
    w()
  }
  return out.join('\n')
}
