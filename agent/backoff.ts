/**
 * Reconnect delays: exponential with "full jitter" (a uniformly random delay between 0 and the
 * exponential bound), capped. Jitter spreads a fleet's reconnects after a collector restart
 * instead of having every agent knock at the same instant. Pure: the random source is injected.
 */
export interface BackoffOptions {
  /** Bound of the first delay, ms. */
  firstMs: number;
  /** Largest delay, ms. */
  capMs: number;
  random?: () => number;
}

export const DEFAULT_BACKOFF: Readonly<BackoffOptions> = Object.freeze({ firstMs: 500, capMs: 30_000 });

export class Backoff {
  private attempt = 0;
  private readonly random: () => number;

  constructor(private readonly options: BackoffOptions = DEFAULT_BACKOFF) {
    if (!(options.firstMs > 0) || !(options.capMs >= options.firstMs)) throw new RangeError('backoff needs 0 < firstMs <= capMs');
    this.random = options.random ?? Math.random;
  }

  /** The bound for the next delay, ms: firstMs x 2^attempt, capped. */
  get boundMs(): number {
    return Math.min(this.options.capMs, this.options.firstMs * 2 ** Math.min(this.attempt, 30));
  }

  /** The next delay, ms, and one step further up. At least 10% of the bound, so retries never spin. */
  next(): number {
    const bound = this.boundMs;
    this.attempt++;
    return Math.round(bound * (0.1 + 0.9 * this.random()));
  }

  /** Jump to the cap: for refusals that will not heal soon (a wrong token). */
  toCap(): void {
    this.attempt = 31;
  }

  reset(): void {
    this.attempt = 0;
  }
}
