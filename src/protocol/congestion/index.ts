/** Congestion controller factory: the session picks an algorithm by name at construction. */
import { PassThroughController } from './base.js'
import { Bbr } from './bbr.js'
import { Cubic } from './cubic.js'
import { NewReno } from './newreno.js'
import type { CongestionController, CongestionOptions } from './types.js'

export type CongestionAlgorithm = 'bbr' | 'newreno' | 'cubic' | 'none'

export function createCongestionController(name: CongestionAlgorithm, opts: CongestionOptions = {}): CongestionController {
  switch (name) {
    case 'bbr':
      return new Bbr(opts)
    case 'newreno':
      return new NewReno(opts)
    case 'cubic':
      return new Cubic(opts)
    case 'none':
      return new PassThroughController()
    default:
      throw new RangeError(`unknown congestion controller: ${String(name)}`)
  }
}

export { Bbr, Cubic, NewReno, PassThroughController }
export { Pacer } from './pacer.js'
export type { CongestionController, CongestionOptions } from './types.js'
