#!/usr/bin/env node
/**
 * Retained bytes per session by part, from a V8 heap snapshot's dominator tree: for every
 * Session and STTSession object, the retained size of each field's object that the session
 * alone keeps alive, summed by field and divided by the session count (docs/SCALE.md, the
 * idle-session budget table). Objects shared by several parts of one session (or by sessions)
 * are not attributed to a field; compare the total with the bench's heap figure.
 *
 *   HEAP_SNAPSHOT=/tmp/snap IDLE=2000 RUNS=1 node --expose-gc bench/scale.mjs idle
 *   node bench/heap-retained.mjs /tmp/snap/responder-2000.heapsnapshot 2000
 */
import { readFileSync } from 'node:fs'
const [file, perArg] = process.argv.slice(2)
const per = Number(perArg ?? 1)
const snap = JSON.parse(readFileSync(file, 'utf8'))
const m = snap.snapshot.meta, nf = m.node_fields.length, ef = m.edge_fields.length
const types = m.node_types[0], etypes = m.edge_types[0]
const iType = m.node_fields.indexOf('type'), iName = m.node_fields.indexOf('name'), iSize = m.node_fields.indexOf('self_size'), iEc = m.node_fields.indexOf('edge_count')
const eT = m.edge_fields.indexOf('type'), eN = m.edge_fields.indexOf('name_or_index'), eTo = m.edge_fields.indexOf('to_node')
const nodes = snap.nodes, edges = snap.edges, S = snap.strings
const N = nodes.length / nf
const firstEdge = new Int32Array(N + 1)
for (let n = 0, e = 0; n < N; n++) { firstEdge[n] = e; e += nodes[n * nf + iEc] * ef }
firstEdge[N] = edges.length
const skip = (e) => { const t = etypes[edges[e + eT]]; return t === 'weak' || t === 'shortcut' }
// DFS postorder from root 0
const order = new Int32Array(N).fill(-1), post = []
const stack = [0], it = [firstEdge[0]]
order[0] = 0
const visited = new Uint8Array(N); visited[0] = 1
while (stack.length) {
  const n = stack[stack.length - 1]
  let e = it[it.length - 1]
  let pushed = false
  while (e < firstEdge[n + 1]) {
    const to = edges[e + eTo] / nf
    const s = skip(e)
    e += ef
    if (!s && !visited[to]) { visited[to] = 1; it[it.length - 1] = e; stack.push(to); it.push(firstEdge[to]); pushed = true; break }
  }
  if (!pushed) { stack.pop(); it.pop(); order[n] = post.length; post.push(n) }
}
// predecessors
const predCount = new Int32Array(N)
for (let n = 0; n < N; n++) if (visited[n]) for (let e = firstEdge[n]; e < firstEdge[n + 1]; e += ef) if (!skip(e)) predCount[edges[e + eTo] / nf]++
const predStart = new Int32Array(N + 1)
for (let n = 0; n < N; n++) predStart[n + 1] = predStart[n] + predCount[n]
const preds = new Int32Array(predStart[N]); const fill = predStart.slice(0, N)
for (let n = 0; n < N; n++) if (visited[n]) for (let e = firstEdge[n]; e < firstEdge[n + 1]; e += ef) if (!skip(e)) { const to = edges[e + eTo] / nf; preds[fill[to]++] = n }
const idom = new Int32Array(N).fill(-1); idom[0] = 0
const intersect = (a, b) => { while (a !== b) { while (order[a] < order[b]) a = idom[a]; while (order[b] < order[a]) b = idom[b] } return a }
let changed = true
while (changed) {
  changed = false
  for (let k = post.length - 2; k >= 0; k--) {
    const n = post[k]
    let nd = -1
    for (let p = predStart[n]; p < predStart[n + 1]; p++) { const q = preds[p]; if (idom[q] === -1) continue; nd = nd === -1 ? q : intersect(q, nd) }
    if (nd !== -1 && idom[n] !== nd) { idom[n] = nd; changed = true }
  }
}
const ret = new Float64Array(N)
for (const n of post) { ret[n] += nodes[n * nf + iSize]; if (n !== 0 && idom[n] >= 0) ret[idom[n]] += ret[n] }
const name = (n) => S[nodes[n * nf + iName]]
const by = new Map()
let sessTotal = 0
for (const cls of ['Session', 'STTSession']) {
  for (let n = 0; n < N; n++) {
    if (types[nodes[n * nf + iType]] !== 'object' || name(n) !== cls) continue
    sessTotal += ret[n]
    const k0 = `${cls} (own object)`; by.set(k0, (by.get(k0) ?? 0) + nodes[n * nf + iSize])
    for (let e = firstEdge[n]; e < firstEdge[n + 1]; e += ef) {
      if (skip(e)) continue
      const to = edges[e + eTo] / nf
      if (idom[to] !== n) continue
      const et = etypes[edges[e + eT]]
      const k = `${cls}.${et === 'element' || et === 'hidden' ? '[' + et + ']' : S[edges[e + eN]]}`
      by.set(k, (by.get(k) ?? 0) + ret[to])
    }
  }
}
for (const [k, v] of [...by].sort((a, b) => b[1] - a[1])) if (v / per >= 8) console.log(`${(v / per).toFixed(0).padStart(6)}  ${k}`)
console.log('retained by Session + STTSession per session:', (sessTotal / per).toFixed(0))
