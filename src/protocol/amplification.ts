/**
 * Anti-amplification budget for an address that has not proven it receives our packets
 * (RFC 9000 §8.1 / §9.3, issue 10 item 4): everything sent to it, retries included, stays
 * within `factor` times the bytes received from it. A path challenge that does not fit waits
 * until the address sends more; it is never padded past the budget.
 */
export const AMPLIFICATION_FACTOR = 3

export class AmplificationBudget {
  private received = 0
  private sent = 0

  constructor(private readonly factor = AMPLIFICATION_FACTOR) {}

  onReceived(bytes: number): void {
    this.received += bytes
  }

  onSent(bytes: number): void {
    this.sent += bytes
  }

  /** Bytes that may still be sent now. */
  get allowance(): number {
    return Math.max(0, this.factor * this.received - this.sent)
  }

  get bytesSent(): number {
    return this.sent
  }

  get bytesReceived(): number {
    return this.received
  }
}
