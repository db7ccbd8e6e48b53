/**
 * A circuit breaker per destination.
 *   closed    — deliveries flow; N consecutive retryable failures open it.
 *   open      — nothing is claimed until the cool-down (or the server's Retry-After, if longer) passed.
 *   half-open — one probe delivery; success closes, failure opens again.
 * A permanent answer (4xx → dead letter) proves the service is up: it counts as success here.
 */
export const BREAKER_STATES = ['closed', 'open', 'half-open'] as const;
export type BreakerState = (typeof BREAKER_STATES)[number];

export interface BreakerOptions {
  /** Consecutive failures that open the circuit. */
  failureThreshold: number;
  cooldownMs: number;
}

export const DEFAULT_BREAKER: BreakerOptions = { failureThreshold: 5, cooldownMs: 30_000 };

export class CircuitBreaker {
  private stateValue: BreakerState = 'closed';
  private failures = 0;
  private openUntil = 0;
  private probeInFlight = false;

  constructor(
    private readonly options: BreakerOptions = DEFAULT_BREAKER,
    private readonly clock: () => number = Date.now,
  ) {}

  get state(): BreakerState {
    if (this.stateValue === 'open' && this.clock() >= this.openUntil) {
      this.stateValue = 'half-open';
      this.probeInFlight = false;
    }
    return this.stateValue;
  }

  /** How many deliveries may start now (Infinity when closed). */
  allowance(): number {
    switch (this.state) {
      case 'closed':
        return Infinity;
      case 'half-open':
        return this.probeInFlight ? 0 : 1;
      default:
        return 0;
    }
  }

  /** Called when a delivery starts (marks the half-open probe as taken). */
  started(): void {
    if (this.state === 'half-open') this.probeInFlight = true;
  }

  /** Epoch ms when an open circuit lets a probe through (0 when not open). */
  reopensAt(): number {
    return this.state === 'open' ? this.openUntil : 0;
  }

  success(): void {
    this.failures = 0;
    this.stateValue = 'closed';
    this.probeInFlight = false;
  }

  failure(retryAfterMs?: number): void {
    this.failures++;
    const st = this.state;
    if (st === 'half-open' || (st === 'closed' && this.failures >= this.options.failureThreshold)) {
      this.stateValue = 'open';
      this.probeInFlight = false;
      this.openUntil = this.clock() + Math.max(this.options.cooldownMs, retryAfterMs ?? 0);
    }
  }
}
