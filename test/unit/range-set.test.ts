import { describe, expect, it } from 'vitest'
import { RangeSet } from '../../src/protocol/range-set.js'
import { xorshift32 } from '../../src/protocol/xorshift.js'

/** The set as [start, end) pairs, read through the public accessors. */
function ranges(rs: RangeSet): Array<[number, number]> {
  const out: Array<[number, number]> = []
  for (let i = 0; i < rs.count; i++) out.push([rs.start(i), rs.end(i)])
  return out
}

/** Maximal runs of a boolean model. */
function modelRanges(m: boolean[]): Array<[number, number]> {
  const out: Array<[number, number]> = []
  for (let v = 0; v < m.length; v++) {
    if (!m[v]) continue
    const s = v
    while (m[v + 1]) v++
    out.push([s, v + 1])
  }
  return out
}

describe('RangeSet', () => {
  it('remove drops whole ranges, trims ends and splits one range (all positions)', () => {
    const rs = new RangeSet()
    rs.add(0, 10)
    rs.add(20, 30)
    rs.add(40, 50)
    rs.remove(20, 30)
    expect(ranges(rs)).toEqual([[0, 10], [40, 50]])
    rs.remove(0, 10)
    expect(ranges(rs)).toEqual([[40, 50]])
    rs.remove(44, 46)
    expect(ranges(rs)).toEqual([[40, 44], [46, 50]])
    rs.remove(0, 100)
    expect(rs.isEmpty()).toBe(true)
    rs.add(7, 8)
    expect(ranges(rs)).toEqual([[7, 8]])
  })

  it('matches a plain boolean model under seeded random add / remove / removeBelow', () => {
    const rand = xorshift32(13)
    const rs = new RangeSet()
    const model: boolean[] = new Array(200).fill(false)
    for (let step = 0; step < 4000; step++) {
      const a = Math.floor(rand() * 200)
      const b = Math.min(200, a + 1 + Math.floor(rand() * 12))
      const op = rand()
      if (op < 0.5) {
        rs.add(a, b)
        for (let v = a; v < b; v++) model[v] = true
      } else if (op < 0.95) {
        rs.remove(a, b)
        for (let v = a; v < b; v++) model[v] = false
      } else {
        rs.removeBelow(a)
        for (let v = 0; v < a; v++) model[v] = false
      }
      expect(ranges(rs)).toEqual(modelRanges(model))
    }
  })

  it('a set emptied by removal (kept storage, refilled in place) or by clear() holds exactly what is added next', () => {
    const rs = new RangeSet()
    // The ping-pong pattern of an ACK tracker: one range, dropped below, a new one, ...
    for (let pn = 0; pn < 50; pn++) {
      rs.add(pn, pn + 1)
      expect(ranges(rs)).toEqual([[pn, pn + 1]])
      rs.removeBelow(pn + 1)
      expect(rs.isEmpty()).toBe(true)
      if (pn % 10 === 9) rs.clear()
    }
    rs.add(100, 110)
    rs.add(120, 130)
    rs.add(110, 120)
    expect(ranges(rs)).toEqual([[100, 130]])
  })
})
