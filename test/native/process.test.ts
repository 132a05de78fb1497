/**
 * Behaviour that needs a process or a thread of its own: a throw inside the native receive
 * callback must surface as an uncaught exception (never swallowed), and the addon must load and
 * tear down in worker_threads (context-aware, sockets closed by the env cleanup hook).
 * The child scripts use the raw addon (plain node cannot import the TypeScript sources).
 */
import { spawnSync } from 'node:child_process'
import { Worker } from 'node:worker_threads'
import { describe, expect, it } from 'vitest'
import { addonPath, backend, binding } from '../../src/native/load.js'

const haveUdp = backend === 'native' && binding?.UdpSocket !== undefined
const SKIP_REASON = 'native addon not loaded (STT_NATIVE=0, not built, or not Linux): process tests skipped'

/**
 * Opens a raw socket on 127.0.0.1:0, sends itself one datagram per `sends`, and calls
 * `onRecv(count)` with the receiving context as `this`. Shared prelude of the child scripts.
 */
const prelude = (addon: string) => `
const { createRequire } = require('node:module');
const b = require(${JSON.stringify(addon)});
function openSelf(onRecv) {
  const stats = new Float64Array(b.STAT_COUNT), result = new Int32Array(b.SEND_RESULT_COUNT);
  const ctx = { received: 0 };
  const s = new b.UdpSocket(ctx, onRecv, function () {}, function () { this.closed = true }, stats, result);
  const addr = new Uint8Array(16); addr.set([127, 0, 0, 1]);
  const r = s.open(4, addr, 0, 0, 0, true, true, 0);
  if (r.errno) throw new Error('open failed ' + r.errno);
  const slab = new Uint8Array(4 * 65536);
  s.setReceiveBuffers(slab, 65536, new Uint32Array(4 * 128), new Uint32Array(4 * 128), new Uint32Array(4 * 128 * b.ADDR_STRIDE));
  s.start();
  const dest = new Uint32Array(b.ADDR_STRIDE); dest[0] = 4; dest[1] = r.port;
  new Uint8Array(dest.buffer).set([127, 0, 0, 1], 8);
  const send = () => s.send(new Uint8Array([1, 2, 3]), new Uint32Array([0]), new Uint32Array([3]), 1, dest);
  return { s, ctx, send };
}
`

function runChild(script: string) {
  return spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 20_000 })
}

describe.skipIf(!haveUdp)(`native callbacks and threads (${haveUdp ? 'addon loaded' : SKIP_REASON})`, () => {
  it('a throw inside the receive callback becomes an uncaught exception (child process exits 1)', () => {
    const r = runChild(
      prelude(addonPath!) +
        `
const { send } = openSelf(function (count) { throw new Error('boom from onRecv ' + count) });
send();
setTimeout(() => { console.log('NOT THROWN'); process.exit(0) }, 3000);
`,
    )
    expect(r.stdout).not.toContain('NOT THROWN')
    expect(r.status).toBe(1)
    expect(r.stderr).toContain('boom from onRecv 1')
  })

  it('with an uncaughtException handler the error is delivered there and the socket keeps working', () => {
    const r = runChild(
      prelude(addonPath!) +
        `
const seen = [];
process.on('uncaughtException', (e) => seen.push(e.message));
let n = 0;
const { s, send } = openSelf(function (count) {
  n += count;
  if (n === 1) { setImmediate(send); throw new Error('first'); }
  console.log('SEEN=' + JSON.stringify(seen) + ' N=' + n + ' THIS=' + typeof this.received);
  s.close();
});
send();
`,
    )
    expect(r.stderr).toBe('')
    expect(r.stdout.trim()).toBe('SEEN=["first"] N=2 THIS=number')
    expect(r.status).toBe(0)
  })

  it('async_hooks context: the callback runs under the async context of the socket creation', () => {
    const r = runChild(
      prelude(addonPath!) +
        `
const { AsyncLocalStorage } = require('node:async_hooks');
const als = new AsyncLocalStorage();
als.run('socket-scope', () => {
  const { s, send } = openSelf(function () { console.log('STORE=' + als.getStore()); s.close(); });
  setImmediate(() => als.run('other', send));
});
`,
    )
    expect(r.stdout.trim()).toBe('STORE=socket-scope')
    expect(r.status).toBe(0)
  })

  it('an open socket keeps the process alive; after close() the process exits by itself', () => {
    const r = runChild(
      prelude(addonPath!) +
        `
const { s, send } = openSelf(function () { console.log('GOT'); s.close(); });
send();
process.on('exit', () => console.log('EXIT live=' + b.UdpSocket.liveHandles()));
`,
    )
    expect(r.stdout.trim().split('\n')).toEqual(['GOT', 'EXIT live=0'])
    expect(r.status).toBe(0)
  })

  it('loads in worker_threads; terminating a worker with an open socket tears it down cleanly', async () => {
    const workerCode =
      prelude(addonPath!) +
      `
const { parentPort } = require('node:worker_threads');
const key = new b.PacketKey(1, new Uint8Array(32).fill(1), new Uint8Array(12).fill(2));
const pkt = new Uint8Array(64); pkt[0] = 1;
const off = new Uint32Array([0]), len = new Uint32Array([64]), st = new Uint8Array(1);
key.sealBatch(pkt, off, len, 1, 19); key.openBatch(pkt, off, len, 1, 19, st);
const { send } = openSelf(function (count) { parentPort.postMessage({ opened: st[0], count }) });
send();
`
    const live = binding!.UdpSocket!.liveHandles
    const base = live()
    for (let round = 0; round < 3; round++) {
      const w = new Worker(workerCode, { eval: true })
      const msg = await new Promise<{ opened: number; count: number }>((resolve, reject) => {
        w.once('message', resolve)
        w.once('error', reject)
      })
      expect(msg).toEqual({ opened: 1, count: 1 })
      expect(live()).toBe(base + 1) // the worker's socket is still open
      const code = await w.terminate()
      expect(code).toBe(1) // terminated, not crashed
      expect(live()).toBe(base)
    }
    // The main thread's own instance of the addon is unaffected.
    const k = new binding!.PacketKey(2, new Uint8Array(32), new Uint8Array(12))
    const pkt = new Uint8Array(40)
    expect(k.sealBatch(pkt, new Uint32Array([0]), new Uint32Array([40]), 1, 19)).toBe(1)
  })

  it('a worker that closes its own socket and exits normally leaves no handle behind', async () => {
    const w = new Worker(
      prelude(addonPath!) +
        `
const { s, send } = openSelf(function () { s.close(); });
send();
`,
      { eval: true },
    )
    const code = await new Promise<number>((resolve) => w.once('exit', resolve))
    expect(code).toBe(0)
    expect(binding!.UdpSocket!.liveHandles()).toBe(0)
  })
})
