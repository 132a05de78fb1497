/**
 * Regression tests for issue 10, items 2 (race-and-relay redirection: the old path is validated
 * too and the session moves back; `previous` is forgotten after 3 PTO) and 4 (path challenges
 * stay within 3x of what the unvalidated address sent, retries included).
 */
import { describe, expect, it } from 'vitest'
import { fakeAddress } from '../helpers/endpoint-pair.js'
import { CorePair, PT, typeOf } from './core-harness.js'
import { AmplificationBudget } from '../../src/protocol/amplification.js'
import { OFF_PATH_PACKET_SIZE } from '../../src/protocol/off-path.js'

const V = fakeAddress('v') // the attacker's own address

/** The last datagram `side` emitted (after a flush). */
function last(p: CorePair, side: 'a' | 'b'): Uint8Array {
  const l = p.log.filter((d) => d.from === side)
  return l[l.length - 1]!.data
}

/** Bytes B sent to `key` since log index `from`. */
function sentTo(p: CorePair, from: number, key: string): number {
  return p.log.slice(from).filter((d) => d.from === 'b' && d.toKey === key).reduce((n, d) => n + d.data.length, 0)
}

/**
 * The race-and-relay attack of issue 10, item 2, by an attacker who sees and injects but
 * cannot drop: races a copy of A's packet to B from V, relays B's challenge (sent to V) to A,
 * races A's KEEP_ALIVE_ACK from V. Returns the sessions; B is then on V.
 */
function redirect(p: CorePair, beforeLastRace: () => void = () => {}) {
  const { sa, sb } = p.handshake()
  expect(p.roundTrip(sa, sb, 'warm')).toBe(true)
  p.advance(100)
  sa.sendDatagram(new TextEncoder().encode('x'))
  p.flush()
  const raced = last(p, 'a')
  const logBefore = p.log.length
  p.deliver('b', raced, V) // the copy from V wins the race
  const challenge = p.log.slice(logBefore).find((d) => d.from === 'b' && d.toKey === V.key && typeOf(d.data) === PT.DATA)!.data
  expect(sb.address.key).toBe(p.addrA.key) // not moved before validation
  const beforeRelay = p.log.length
  p.deliver('a', challenge) // relayed to A as if from B
  const ack = p.log.slice(beforeRelay).find((d) => d.from === 'a')!.data
  beforeLastRace()
  p.deliver('b', ack, V) // A's KEEP_ALIVE_ACK raced from V
  expect(sb.address.key).toBe(V.key)
  return { sa, sb }
}

describe('item 2: a race-and-relay attacker cannot redirect a session for good', () => {
  it('the old path is validated too, and its newest packet moves the session back once the attacker stops', () => {
    const p = new CorePair({ seed: 'sec-redirect' })
    const { sa, sb } = redirect(p)
    p.advance(2000) // the attacker stops: nothing more is raced
    expect(sb.address.key).toBe(p.addrA.key)
    const moves = p.sessionEvents('b', 'migrated').map((e) => (e.event.to as { key: string }).key)
    expect(moves).toEqual([V.key, p.addrA.key])
    expect(p.roundTrip(sa, sb, 'after')).toBe(true)
  })

  it('previous is forgotten after ~3 PTO: later packets from the real address start an ordinary validation back', () => {
    const p = new CorePair({ seed: 'sec-redirect-expiry' })
    let blackout = false
    const tap = p.tap
    p.tap = (d) => (blackout && d.from === 'b' ? [] : tap(d))
    const { sb } = redirect(p, () => (blackout = true)) // the old-path challenges are all lost
    p.advance(3000)
    expect(sb.address.key).toBe(V.key)
    blackout = false
    p.advance(20_000) // A's keep-alives from its real address start a validation back
    expect(sb.address.key).toBe(p.addrA.key)
  })
})

describe('item 4: path challenges to an unvalidated address stay within 3x, retries included', () => {
  it('one raced packet buys at most 3x its size in challenges', () => {
    const p = new CorePair({ seed: 'sec-amplify' })
    const { sa, sb } = p.handshake()
    expect(p.roundTrip(sa, sb, 'warm')).toBe(true)
    sa.sendDatagram(new Uint8Array(1))
    p.flush()
    const raced = last(p, 'a')
    const before = p.log.length
    p.deliver('b', raced, V)
    p.advance(10_000)
    const bytesToV = sentTo(p, before, V.key)
    expect(bytesToV).toBeGreaterThan(0) // a challenge did go out
    expect(bytesToV).toBeLessThanOrEqual(3 * raced.length)
    expect(sb.candidateBudget?.bytesSent).toBe(bytesToV)
  })
})

describe('NAT review item 1: the echo of a KEEP_ALIVE from a new address is charged to the same 3x account', () => {
  it('a punch from an unvalidated address buys at most 3x its size: echo and path challenge together', () => {
    const p = new CorePair({ seed: 'sec-amplify-echo' })
    const { sa, sb } = p.handshake()
    expect(p.roundTrip(sa, sb, 'warm')).toBe(true)
    const budget = new AmplificationBudget()
    budget.onReceived(100_000)
    const before = p.log.length
    sa.startPunch(p.now, [V], budget) // A punches V: a KEEP_ALIVE with a fresh challenge
    p.flush()
    const punch = p.log.slice(before).find((d) => d.from === 'a' && d.toKey === V.key)!.data
    expect(punch.length).toBe(OFF_PATH_PACKET_SIZE)
    const mark = p.log.length
    p.deliver('b', punch, V) // arrives at B from V, an address B never validated
    p.advance(10_000)
    const toV = p.log.slice(mark).filter((d) => d.from === 'b' && d.toKey === V.key)
    expect(toV.length).toBeGreaterThanOrEqual(1) // the echo did go out (punching still works)
    const bytesToV = toV.reduce((n, d) => n + d.data.length, 0)
    expect(bytesToV).toBeLessThanOrEqual(3 * punch.length) // was 176 > 132 before the fix
    expect(sb.candidateBudget?.bytesSent).toBe(bytesToV)
  })

  it('raced copies of one punch from an unvalidated address buy no more than 3x of the one accepted', () => {
    const p = new CorePair({ seed: 'sec-amplify-echo-2' })
    const { sa, sb } = p.handshake()
    expect(p.roundTrip(sa, sb, 'warm')).toBe(true)
    const budget = new AmplificationBudget()
    budget.onReceived(100_000)
    sa.startPunch(p.now, [V], budget)
    const before = p.log.length
    p.flush()
    const punch = p.log.slice(before).find((d) => d.from === 'a' && d.toKey === V.key)!.data
    // Its 3x account spent by many raced copies of the same punch: the replay window drops the
    // copies, and however many arrive, B sends V no more than 3x the one it accepted.
    const mark = p.log.length
    for (let i = 0; i < 5; i++) p.deliver('b', punch, V)
    p.advance(10_000)
    const bytesToV = p.log.slice(mark).filter((d) => d.from === 'b' && d.toKey === V.key).reduce((n, d) => n + d.data.length, 0)
    expect(bytesToV).toBeLessThanOrEqual(3 * punch.length)
  })
})

describe('hole punching (§8.4): relayed packets do not pull a session back from the punched direct path', () => {
  it('a punch target that echoes a path challenge is moved to as by a punch; newest packets through the relay leave the session there', () => {
    // A's view: B's packets through the relay channel arrive from addrB; V is B's own direct
    // address, one of the candidates A punches. B's packets go half one way, half the other
    // (B has not moved yet, or its packets on the two paths overtake each other).
    const p = new CorePair({ seed: 'punch-no-bounce' })
    const { sa, sb } = p.handshake()
    expect(p.roundTrip(sa, sb, 'warm')).toBe(true)
    const budget = new AmplificationBudget()
    budget.onReceived(100_000)
    sa.fallback.address = p.addrB
    sa.startPunch(p.now, [V], budget)
    let viaDirect = true
    const direct: Uint8Array[] = []
    const tap = p.tap
    p.tap = (d) => {
      if (d.from !== 'b') return tap(d)
      viaDirect = !viaDirect
      if (!viaDirect) return tap(d)
      direct.push(d.data)
      return []
    }
    let seen = p.log.length
    for (let i = 0; i < 40; i++) {
      sb.sendDatagram(new Uint8Array([i]))
      p.flush()
      // What A sends to V reaches B (from A's own address); what B sent "directly" reaches A from V.
      // A's punches (unpadded KEEP_ALIVEs) are lost, as at a NAT whose mapping is not open yet:
      // V is validated by A's path challenge, the case that used to bounce.
      const toV = p.log.slice(seen).filter((d) => d.from === 'a' && d.toKey === V.key && d.data.length !== OFF_PATH_PACKET_SIZE)
      seen = p.log.length
      for (const d of toV) p.deliver('b', d.data)
      for (const d of direct.splice(0)) p.deliver('a', d, V)
      p.advance(10)
    }
    expect(sa.address.key).toBe(V.key)
    const moves = p.sessionEvents('a', 'migrated').map((e) => (e.event.to as { key: string }).key)
    expect(moves).toEqual([V.key]) // before: V, B's relay address, V, ... (each newest relayed packet pulled it back)
  })
})

describe('RFC 9000 §9.3: only a non-probing packet moves a session back to the validated previous path', () => {
  it("after the peer's deliberate migration, its answers and probes on the path it left move nothing; its data there does", () => {
    const W = fakeAddress('b-new') // where B's packets come from after B moved
    const p = new CorePair({ seed: 'probing-only' })
    const { sa, sb } = p.handshake()
    expect(p.roundTrip(sa, sb, 'warm')).toBe(true)
    // B's packets reach A from W from now on (B moved on purpose); A's packets to W reach B.
    const held: Uint8Array[] = []
    p.tap = (d) => (d.from === 'b' ? (held.push(d.data), []) : [d.data])
    let seen = p.log.length
    const pump = (steps: number, fromB: () => typeof W) => {
      for (let i = 0; i < steps; i++) {
        p.flush()
        for (const d of p.log.slice(seen)) if (d.from === 'a' && d.toKey === W.key) p.deliver('b', d.data)
        seen = p.log.length
        for (const d of held.splice(0)) p.deliver('a', d, fromB())
        p.advance(5)
      }
    }
    sb.sendDatagram(new Uint8Array([1]))
    pump(20, () => W)
    expect(sa.address.key).toBe(W.key) // A validated W and moved; it challenges the path B left
    // B answers that challenge there (an echo on the old path), then probes it: both are the
    // newest packets from the validated previous path, and only probing frames.
    pump(8, () => p.addrB)
    const budget = new AmplificationBudget()
    budget.onReceived(100_000)
    sb.startPunch(p.now, [p.addrA], budget)
    pump(3, () => p.addrB)
    expect(sa.address.key).toBe(W.key)
    // Data from there is not probing: the peer uses that path again, and A follows (§9.3.3).
    sb.sendDatagram(new Uint8Array([2]))
    pump(1, () => p.addrB)
    expect(sa.address.key).toBe(p.addrB.key)
  })
})

/**
 * The punched treatment (§8.4) is only for the first move off the relay channel (review of
 * 872e59b). A's view: B's relayed packets arrive from addrB (the relay channel), T is B's own
 * address as the relay introduced it (a punch target), W an address B's NAT rebinds to, X an
 * address that is no target (the attacker's, or B's peer-reflexive one). `pump` makes B send
 * data that reaches A from `from()`, and delivers to B what A sends to the addresses in `reach`
 * except A's punches (the fixed-size unpadded KEEP_ALIVEs: lost, as at a NAT not yet open).
 */
function punchingPair(seed: string) {
  const T = fakeAddress('t')
  const p = new CorePair({ seed })
  const { sa, sb } = p.handshake()
  expect(p.roundTrip(sa, sb, 'warm')).toBe(true)
  const budget = new AmplificationBudget()
  budget.onReceived(100_000)
  sa.fallback.address = p.addrB
  sa.startPunch(p.now, [T], budget)
  const held: Uint8Array[] = []
  const tap = p.tap
  p.tap = (d) => (d.from === 'b' ? (held.push(d.data), []) : tap(d))
  let seen = p.log.length
  const pump = (steps: number, from: () => ReturnType<typeof fakeAddress>, reach: string[]) => {
    for (let i = 0; i < steps; i++) {
      sb.sendDatagram(new Uint8Array([i]))
      p.flush()
      for (const d of p.log.slice(seen)) {
        if (d.from === 'a' && reach.includes(d.toKey) && d.data.length !== OFF_PATH_PACKET_SIZE) p.deliver('b', d.data)
      }
      seen = p.log.length
      for (const d of held.splice(0)) p.deliver('a', d, from())
      p.advance(5)
    }
  }
  // Makes an implicit precondition explicit: the four tests that pause 3 s mean to test what the
  // lull is for (the previous path forgotten), and assume A has nothing in flight when it starts.
  // Three probe timeouts with a packet unanswered on the direct path move A to the relay by design
  // (path-fallback.ts), so whether one is unanswered then depends only on the ACK timing; with a
  // one-RTT ACK wait one was. Pumps until nothing is in flight (with ack-tracker.ts's wait of two
  // RTTs it is already so, and this pumps nothing) and asserts it.
  const settle = (from: () => ReturnType<typeof fakeAddress>, reach: string[]) => {
    for (let i = 0; i < 20 && sa.getStats().bytesInFlight > 0; i++) pump(1, from, reach)
    expect(sa.getStats().bytesInFlight).toBe(0)
  }
  const moves = () => p.sessionEvents('a', 'migrated').map((e) => (e.event.to as { key: string }).key)
  return { p, sa, T, pump, settle, moves }
}

describe('review of 872e59b: only the first move off the relay channel counts as punched', () => {
  const W = fakeAddress('w')
  const X = fakeAddress('x')

  it('a validated address that is no punch target is an apparent migration: once the race stops, relayed packets pull the session back', () => {
    const { p, sa, pump } = punchingPair('punch-review-non-target')
    pump(20, () => X, [X.key]) // an attacker races B's packets from X and relays A's challenge
    expect(sa.address.key).toBe(X.key)
    pump(20, () => p.addrB, [X.key, p.addrB.key]) // the attacker stops
    expect(sa.address.key).toBe(p.addrB.key)
  })

  it("after the punch is done and B's NAT rebinds, an attacker racing from the old target does not pin the session", () => {
    const { p, sa, T, pump, moves } = punchingPair('punch-review-stale')
    pump(20, () => T, [T.key]) // B's direct packets come from T, validated by a challenge: punched
    expect(moves()).toEqual([T.key])
    pump(20, () => W, [W.key]) // B's NAT rebinds to W: apparent migration
    expect(sa.address.key).toBe(W.key)
    p.advance(3000) // T, the previous path, is forgotten after 3 PTO
    pump(20, () => T, [T.key]) // the attacker races B's packets spoofed from T
    expect(sa.address.key).toBe(T.key)
    pump(20, () => W, [T.key, W.key]) // it stops racing; B's packets arrive from W again
    expect(sa.address.key).toBe(W.key) // before the review: stayed on T for good
  })

  it('on a peer-reflexive address (the punch never done), an attacker racing from a punch target does not pin the session', () => {
    const { p, sa, T, pump, settle } = punchingPair('punch-review-reflexive')
    pump(30, () => X, [X.key]) // B behind a port-dependent NAT: its direct packets come from X
    settle(() => X, [X.key])
    p.advance(3000)
    pump(5, () => X, [X.key])
    expect(sa.address.key).toBe(X.key)
    pump(20, () => T, [T.key]) // the attacker races B's packets spoofed from the target T
    expect(sa.address.key).toBe(T.key)
    pump(20, () => X, [T.key, X.key])
    expect(sa.address.key).toBe(X.key) // before the review: stayed on T for good
  })

  it("a punch echo that arrives once a path challenge moved the session there moves nothing", () => {
    const { p, sa, T, pump, moves } = punchingPair('punch-review-late-echo')
    pump(20, () => T, [T.key]) // punches lost; T validated by the path challenge
    expect(moves()).toEqual([T.key])
    // A's punches, held so far, reach B now; B echoes each, and the echoes reach A from T.
    const punches = p.log.filter((d) => d.from === 'a' && d.toKey === T.key && d.data.length === OFF_PATH_PACKET_SIZE)
    expect(punches.length).toBeGreaterThan(0)
    const before = p.log.length
    for (const d of punches) p.deliver('b', d.data)
    pump(5, () => T, [T.key])
    expect(p.log.slice(before).some((d) => d.from === 'b' && d.data.length === OFF_PATH_PACKET_SIZE)).toBe(true) // the echoes
    expect(sa.address.key).toBe(T.key)
    expect(moves()).toEqual([T.key])
  })
})

describe('re-review of 771e7f9: a punch echo moves the session only from its relay channel', () => {
  const X = fakeAddress('x')

  it('on a peer-reflexive address, an echo of a held punch spoofed from the target does not pin the session', () => {
    const { p, sa, T, pump, settle, moves } = punchingPair('punch-echo-off-relay')
    pump(30, () => X, [X.key]) // B behind a port-dependent NAT: its direct packets come from X
    settle(() => X, [X.key])
    p.advance(3000) // the relay channel, the previous path, is forgotten
    pump(5, () => X, [X.key])
    expect(sa.address.key).toBe(X.key)
    expect(sa.punchStats?.succeeded).toBeNull() // X is no punch target: the punch is not done
    // An on-path attacker delivers A's punches to T (lost so far) to B, from A's own address; B
    // echoes them on its path to A; the attacker delivers those echoes to A spoofed from T.
    const punches = p.log.filter((d) => d.from === 'a' && d.toKey === T.key && d.data.length === OFF_PATH_PACKET_SIZE)
    expect(punches.length).toBeGreaterThan(0)
    const mark = p.log.length
    for (const d of punches) p.deliver('b', d.data)
    const echoes = p.log.slice(mark).filter((d) => d.from === 'b')
    expect(echoes.length).toBeGreaterThan(0)
    for (const d of echoes) p.deliver('a', d.data, T)
    expect(sa.punchStats?.succeeded).toBe(T.toString()) // the echo did match: the punch is done
    expect(sa.address.key).toBe(X.key) // before the fix: moved to T with no validated previous
    pump(20, () => X, [X.key]) // the attacker stops; B's genuine packets come from X
    expect(sa.address.key).toBe(X.key) // before the fix: stayed on T for good
    expect(moves().filter((k) => k === T.key)).toEqual([])
  })
})

describe('member.ts punches again after a fallback, with the candidates of the introduction', () => {
  it('a punched move to a target that then stays silent is undone by the fallback, in the first round and in a later one alike', () => {
    const { p, sa, T, pump, moves } = punchingPair('punch-stale-round')
    /** Delivers A's punches to T sent since `from` to B, and B's echoes to A as if from T (whoever holds T forwards both ways). */
    const forwardPunches = (from: number) => {
      const punches = p.log.slice(from).filter((d) => d.from === 'a' && d.toKey === T.key && d.data.length === OFF_PATH_PACKET_SIZE)
      expect(punches.length).toBeGreaterThan(0)
      const mark = p.log.length
      for (const d of punches) p.deliver('b', d.data)
      for (const d of p.log.slice(mark).filter((x) => x.from === 'b')) p.deliver('a', d.data, T)
    }
    for (let round = 0; round < 2; round++) {
      const start = p.log.length
      if (round > 0) {
        // After the fallback member.ts starts a new round toward the same (maybe stale) list.
        const budget = new AmplificationBudget()
        budget.onReceived(100_000)
        sa.startPunch(p.now, [T], budget)
      }
      pump(5, () => p.addrB, [p.addrB.key]) // the session runs over the relay; A punches T
      forwardPunches(start)
      expect(sa.address.key).toBe(T.key) // the punched move off the relay channel
      // T stops forwarding: A's packets to it are lost, B's keep coming through the relay.
      pump(400, () => p.addrB, [p.addrB.key])
      expect(sa.address.key).toBe(p.addrB.key)
    }
    expect(moves()).toEqual([T.key, p.addrB.key, T.key, p.addrB.key])
    expect(sa.fallback.count).toBe(2)
  })
})

/**
 * Review 52 (predates the punched-move rules): a candidate whose challenges all went unanswered
 * was never challenged again, however long the peer kept sending from it. An attacker who could
 * drop our packets to the peer's real address X for ~10 s (the 5 challenges) and then only had
 * to forward, or nothing at all, kept the session on an address of its choosing for good.
 */
describe('review 52: a candidate whose challenges went unanswered is challenged again while the peer keeps sending from it', () => {
  const X = fakeAddress('x')

  it('through the punched move: fallback, a punch echo spoofed from T, the challenges to X dropped; then X brings the session back', () => {
    const { p, sa, T, pump, settle, moves } = punchingPair('review52-punched')
    pump(30, () => X, [X.key]) // B behind a port-dependent NAT: its direct packets come from X
    settle(() => X, [X.key])
    p.advance(3000)
    pump(5, () => X, [X.key])
    expect(sa.address.key).toBe(X.key)
    // The attacker drops A->X for 3 PTO: A falls back to the relay (what onPto does then).
    sa.migrateTo(p.addrB)
    expect(sa.address.key).toBe(p.addrB.key)
    // member.ts round 1 toward T; B's genuine packets still come from X, A's are all dropped.
    const budget = new AmplificationBudget()
    budget.onReceived(100_000)
    const start = p.log.length
    sa.startPunch(p.now, [T], budget)
    pump(3, () => X, [])
    // The attacker passes A's punch to B, and B's echo to A spoofed from T: the punched move.
    const punches = p.log.slice(start).filter((d) => d.from === 'a' && d.toKey === T.key && d.data.length === OFF_PATH_PACKET_SIZE)
    expect(punches.length).toBeGreaterThan(0)
    const mark = p.log.length
    for (const d of punches) p.deliver('b', d.data)
    for (const d of p.log.slice(mark).filter((x) => x.from === 'b')) p.deliver('a', d.data, T)
    expect(sa.address.key).toBe(T.key)
    // B's genuine packets from X make X a candidate; the attacker drops A's challenges to X
    // (~10 s) and forwards A's packets to T on to B.
    for (let i = 0; i < 20; i++) pump(100, () => X, [T.key])
    expect(sa.address.key).toBe(T.key)
    // The attacker stops dropping on A->X (it still forwards from T): X's packets bring the session back.
    for (let i = 0; i < 20; i++) pump(100, () => X, [T.key, X.key])
    expect(sa.address.key).toBe(X.key) // before the fix: stayed on T for good
    expect(moves().slice(-1)).toEqual([X.key])
  })

  it('plain §2.1: races from V and the challenges to X dropped ~10 s; once the attacker leaves, X brings the session back', () => {
    const { p, sa, pump, settle, moves } = punchingPair('review52-plain')
    pump(30, () => X, [X.key])
    settle(() => X, [X.key])
    p.advance(3000)
    pump(5, () => X, [X.key])
    expect(sa.address.key).toBe(X.key)
    pump(20, () => V, [V.key]) // the attacker races B's packets from V and drops A's to X
    expect(sa.address.key).toBe(V.key)
    for (let i = 0; i < 20; i++) pump(100, () => X, [V.key]) // B's genuine packets from X; A->X still dropped
    expect(sa.address.key).toBe(V.key)
    for (let i = 0; i < 20; i++) pump(100, () => X, [V.key, X.key]) // the attacker leaves the A->X path
    expect(sa.address.key).toBe(X.key) // before the fix: stayed on V for good
    expect(moves().slice(-1)).toEqual([X.key])
  })
})
