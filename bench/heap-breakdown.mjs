#!/usr/bin/env node
/**
 * Summarises a V8 heap snapshot by constructor: count and shallow bytes, largest first, divided
 * by a session count when given. Used for the idle-session memory budget (docs/SCALE.md):
 *
 *   HEAP_SNAPSHOT=/tmp/snap IDLE=1000 RUNS=1 node bench/scale.mjs idle
 *   node bench/heap-breakdown.mjs /tmp/snap/responder-1000.heapsnapshot 1000 [top]
 */
import { readFileSync } from 'node:fs'

const [file, perArg, topArg] = process.argv.slice(2)
const per = Number(perArg ?? 1)
const snap = JSON.parse(readFileSync(file, 'utf8'))
const meta = snap.snapshot.meta
const fields = meta.node_fields
const nf = fields.length
const types = meta.node_types[0]
const iType = fields.indexOf('type')
const iName = fields.indexOf('name')
const iSize = fields.indexOf('self_size')
const by = new Map()
const nodes = snap.nodes
for (let i = 0; i < nodes.length; i += nf) {
  const type = types[nodes[i + iType]]
  const name = type === 'object' || type === 'closure' ? snap.strings[nodes[i + iName]] : `(${type})`
  const key = type === 'closure' ? `closure ${name}` : name
  const e = by.get(key) ?? { count: 0, bytes: 0 }
  e.count++
  e.bytes += nodes[i + iSize]
  by.set(key, e)
}
const rows = [...by].sort((a, b) => b[1].bytes - a[1].bytes).slice(0, Number(topArg ?? 40))
for (const [k, e] of rows) console.log(`${(e.bytes / per).toFixed(0).padStart(8)} B ${(e.count / per).toFixed(2).padStart(8)} x  ${k}`)
