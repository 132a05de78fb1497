/** Transfer progress: a cli-progress bar on a TTY, plain lines otherwise, nothing with --quiet. */
import cliProgress from 'cli-progress'
import { bytes, duration, rate } from './format.js'

export interface Progress {
  update(done: number): void
  stop(final: string): void
}

/** `start`: bytes already done before this run (a resumed transfer), left out of the rate. */
export function makeProgress(label: string, total: number, mode: 'tty' | 'plain' | 'none', write: (s: string) => void, start = 0): Progress {
  const t0 = performance.now()
  if (mode === 'none') return { update() {}, stop() {} }
  const stats = (done: number) => {
    const secs = (performance.now() - t0) / 1000
    const r = secs > 0 ? Math.max(0, done - start) / secs : 0
    const eta = r > 0 ? (total - done) / r : Infinity
    return { secs, r, eta }
  }
  if (mode === 'tty') {
    const bar = new cliProgress.SingleBar(
      {
        format: '{label} |{bar}| {percentage}% | {doneh}/{totalh} | {rateh} | ETA {etah}',
        stream: process.stderr,
        hideCursor: true,
        barsize: 24,
        etaBuffer: 50,
        fps: 8,
        clearOnComplete: true,
      },
      cliProgress.Presets.shades_classic,
    )
    bar.start(Math.max(total, 1), 0, { label, doneh: bytes(0), totalh: bytes(total), rateh: '-', etah: '?' })
    return {
      update(done) {
        const s = stats(done)
        bar.update(total === 0 ? 1 : done, { doneh: bytes(done), rateh: rate(s.r), etah: duration(s.eta) })
      },
      stop(final) {
        bar.stop()
        write(final)
      },
    }
  }
  let last = 0
  let lastDone = -1
  return {
    update(done) {
      const now = performance.now()
      if ((now - last < 1000 && done < total) || done === lastDone) return
      last = now
      lastDone = done
      const s = stats(done)
      const pct = total ? ((100 * done) / total).toFixed(0) : '100'
      write(`progress ${label} ${pct}% ${bytes(done)}/${bytes(total)} ${rate(s.r)} ETA ${duration(s.eta)}`)
    },
    stop(final) {
      write(final)
    },
  }
}
