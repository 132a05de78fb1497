import { describe, expect, it } from 'vitest'
import { EndpointScheduler, ReadyList, type Schedulable } from '../../src/protocol/endpoint-scheduler.js'

class Item implements Schedulable {
  heapIndex = -1
  heapDeadline = Infinity
  readySlot = -1
  deadlineStale = false
  polls = 0
  constructor(
    readonly name: string,
    public deadline = Infinity,
    readonly address = { key: 'path-a' },
  ) {}
  pollTimeout(_now: number, sendable: boolean): number {
    this.polls++
    return sendable ? this.deadline : Infinity
  }
}

function walk(r: ReadyList<Item>): string[] {
  const out: string[] = []
  for (let i = r.nextIndex(0), s = r.at(i); s !== null; i = r.nextIndex(i + 1), s = r.at(i)) out.push(s.name)
  return out
}

describe('ReadyList (the endpoint ready set without a Set)', () => {
  it('keeps insertion order, ignores repeats, and a re-added member goes to the back', () => {
    const r = new ReadyList<Item>()
    const [a, b, c] = [new Item('a'), new Item('b'), new Item('c')]
    r.add(a)
    r.add(b)
    r.add(a)
    r.add(c)
    expect(walk(r)).toEqual(['a', 'b', 'c'])
    expect(r.size).toBe(3)
    r.delete(a)
    r.add(a)
    expect(walk(r)).toEqual(['b', 'c', 'a'])
    expect(r.has(a) && r.has(b) && r.has(c)).toBe(true)
  })

  it('deleting during a walk skips the member; adding during a walk visits the newcomer', () => {
    const r = new ReadyList<Item>()
    const items = ['a', 'b', 'c', 'd'].map((n) => new Item(n))
    for (const s of items) r.add(s)
    const seen: string[] = []
    const late = new Item('late')
    for (let i = r.nextIndex(0), s = r.at(i); s !== null; i = r.nextIndex(i + 1), s = r.at(i)) {
      seen.push(s.name)
      if (s.name === 'a') r.delete(items[2]!)
      if (s.name === 'b') r.add(late)
    }
    expect(seen).toEqual(['a', 'b', 'd', 'late'])
    expect(r.has(items[2]!)).toBe(false)
    expect(r.size).toBe(4)
  })

  it('an emptied list starts over; holes are compacted away with order and slots kept', () => {
    const r = new ReadyList<Item>()
    const items = Array.from({ length: 40 }, (_, i) => new Item(`s${i}`))
    for (const s of items) r.add(s)
    for (const s of items) r.delete(s)
    expect(r.size).toBe(0)
    expect(r.at(r.nextIndex(0))).toBeNull()
    r.add(items[5]!)
    expect(items[5]!.readySlot).toBe(0)
    // Round-robin moves leave holes behind; compact() drops them.
    const [x, y] = [items[0]!, items[1]!]
    r.add(x)
    r.add(y)
    for (let k = 0; k < 30; k++) {
      const first = r.at(r.nextIndex(0))!
      r.delete(first)
      r.add(first)
    }
    r.compact()
    expect(walk(r)).toEqual(['s5', 's0', 's1'])
    expect([items[5]!.readySlot, x.readySlot, y.readySlot]).toEqual([0, 1, 2])
    r.delete(x)
    expect(walk(r)).toEqual(['s5', 's1'])
  })
})

describe('EndpointScheduler', () => {
  it('recomputes a touched deadline once per refresh however often it was touched', () => {
    const sched = new EndpointScheduler<Item>()
    const a = new Item('a', 50)
    for (let k = 0; k < 5; k++) sched.schedule(a)
    expect(sched.nextDeadline(0)).toBe(50)
    expect(a.polls).toBe(1)
    expect(sched.nextDeadline(0)).toBe(50)
    expect(a.polls).toBe(1)
    a.deadline = 20
    sched.touch(a)
    expect(sched.nextDeadline(0)).toBe(20)
    expect(a.polls).toBe(2)
  })

  it('popDue hands out due sessions and files them again at the next refresh', () => {
    const sched = new EndpointScheduler<Item>()
    const [a, b] = [new Item('a', 10), new Item('b', 30)]
    sched.touch(a)
    sched.touch(b)
    sched.refresh(0)
    expect(sched.popDue(20)).toBe(a)
    expect(sched.popDue(20)).toBeNull()
    a.deadline = 40
    expect(sched.nextDeadline(20)).toBe(30)
    expect(sched.popDue(35)).toBe(b)
    b.deadline = Infinity
    expect(sched.nextDeadline(35)).toBe(40)
  })

  it('a forgotten session leaves the ready list and the heap, even while marked stale', () => {
    const sched = new EndpointScheduler<Item>()
    const [a, b] = [new Item('a', 10), new Item('b', 30)]
    sched.schedule(a)
    sched.schedule(b)
    sched.refresh(0)
    sched.touch(a)
    sched.forget(a)
    expect(sched.ready.has(a)).toBe(false)
    expect(walk(sched.ready)).toEqual(['b'])
    expect(sched.nextDeadline(0)).toBe(30)
    expect(a.polls).toBe(1)
    expect(a.heapIndex).toBe(-1)
  })

  it('a blocked path parks its sessions (send deadlines left out) until unblocked', () => {
    const sched = new EndpointScheduler<Item>()
    const a = new Item('a', 10)
    const other = new Item('other', 15, { key: 'path-b' })
    sched.schedule(a)
    sched.schedule(other)
    expect(sched.parkIfBlocked(a)).toBe(false)
    sched.block('path-a')
    expect(sched.parkIfBlocked(a)).toBe(true)
    expect(sched.parkIfBlocked(other)).toBe(false)
    expect(walk(sched.ready)).toEqual(['other'])
    expect(sched.nextDeadline(0)).toBe(15)
    sched.unblock('path-a')
    expect(walk(sched.ready)).toEqual(['other', 'a'])
    expect(sched.nextDeadline(0)).toBe(10)
  })
})
