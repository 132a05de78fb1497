/**
 * The constants TypeScript and C++ share are generated from scripts/wire-constants.json; the
 * committed outputs must be what the generator makes of the committed JSON.
 */
import { execFileSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { HEADER_SIZE, PacketType, PN_OFFSET } from '../../src/protocol/constants.js'
import { ABI_VERSION, Stat } from '../../src/native/binding.js'

describe('generated wire constants', () => {
  it('src/protocol/wire-constants.ts, src/native/abi-constants.ts and native/wire_constants.h are up to date', () => {
    // --check exits 1 (execFileSync throws, with the stale file named on stderr) when any differs.
    const out = execFileSync(process.execPath, ['scripts/gen-constants.mjs', '--check'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] })
    expect(out).toBe('')
  })

  it('both languages carry the same numbers', () => {
    const h = readFileSync('native/wire_constants.h', 'utf8')
    const cpp = (name: string) => Number(new RegExp(`\\b${name} = (0x[0-9a-f]+|\\d+)`).exec(h)?.[1])
    expect(cpp('HEADER_SIZE')).toBe(HEADER_SIZE)
    expect(cpp('PN_OFFSET')).toBe(PN_OFFSET)
    expect(cpp('PACKET_DATA')).toBe(PacketType.DATA)
    expect(cpp('ABI_VERSION')).toBe(ABI_VERSION)
    expect(cpp('STAT_COUNT')).toBe(Stat.COUNT)
  })
})
