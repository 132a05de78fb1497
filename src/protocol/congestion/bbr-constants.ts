/**
 * BBRv3's constants (the draft's names in SCREAMING_CASE) and state names, shared by bbr.ts
 * and bbr-loss-rounds.ts.
 */
export const BBR_STARTUP_PACING_GAIN = 2.77 // 4 ln 2
export const BBR_STARTUP_CWND_GAIN = 2
export const BBR_DRAIN_PACING_GAIN = 0.35
export const BBR_DEFAULT_CWND_GAIN = 2
export const BBR_PROBE_UP_CWND_GAIN = 2.25
export const BBR_LOSS_THRESH = 0.02
export const BBR_BETA = 0.7
export const BBR_HEADROOM = 0.15
export const BBR_PACING_MARGIN = 0.01
/**
 * Send quantum in ms of the pacing rate (draft §5.6.3). It was 2 ms (the pacer's burst): the
 * flight floor of three quanta then held 6 ms of the rate in the bottleneck's queue at a low RTT
 * (bench/tbf.mjs: 6.0 ms against kernel TCP CUBIC's 4.8 ms; test/sim/bbr-queue.test.ts).
 */
export const BBR_SEND_QUANTUM_MS = 1
export const BBR_PROBE_RTT_CWND_GAIN = 0.5
export const BBR_PROBE_RTT_DURATION = 200
export const BBR_PROBE_RTT_INTERVAL = 5000
export const BBR_MIN_RTT_FILTER_LEN = 10_000
export const BBR_MAX_BW_FILTER_LEN = 2
export const BBR_EXTRA_ACKED_FILTER_LEN = 10
export const BBR_STARTUP_FULL_LOSS_COUNT = 6
/** Largest random-loss rate the pacing rate makes up for (bbr-loss-rounds.ts sendRateFactor). */
export const BBR_MAX_LOSS_COMPENSATION = 0.2
/** Startup ends after this many rounds without 25 % bandwidth growth. */
export const BBR_FULL_BW_COUNT = 3
export const BBR_FULL_BW_THRESH = 1.25
/** An up-probe that found this much more bandwidth is followed by another at once (bbr.ts). */
export const BBR_PROBE_SOON_GROWTH = 1.1
/**
 * A spurious-loss proof later than this many rounds after the episode's first loss restores
 * nothing (bbr.ts onSpuriousCongestion): reordering shows within a round trip.
 */
export const BBR_UNDO_ROUNDS = 2
/**
 * A round "had a queue" when its smallest RTT sample exceeded min_rtt x (1 + fraction) + slack
 * (ms). The slack covers 1 ms timer granularity and ACK batching; a quarter of min_rtt is what
 * a 1.25x probe adds, so our own probing alone stays near the line (deviation, see header).
 */
export const BBR_QUEUE_RTT_FRACTION = 0.25
export const BBR_QUEUE_RTT_SLACK = 1

export type BbrState = 'startup' | 'drain' | 'probe-bw-down' | 'probe-bw-cruise' | 'probe-bw-refill' | 'probe-bw-up' | 'probe-rtt'
/**
 * Startup rounds whose samples a stall of the sender's own process may mark app-limited
 * (bbr-filters.ts BbrStartupStalls): enough for the 150-350 ms of stalls seen on a shared
 * 2-vCPU machine, few enough that Startup's queue at a real bottleneck stays bounded.
 */
export const BBR_STARTUP_MAX_STALL_ROUNDS = 4
