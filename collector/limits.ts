/**
 * Per-source-address bookkeeping: open connections, and failed handshakes in a token bucket.
 * Addresses are grouped the way an attacker gets them: one IPv4 address, or one IPv6 /64
 * (a single machine is usually handed a whole /64). Both tables are bounded.
 */
import { isIPv6 } from 'node:net';

/** Most addresses remembered by each table; beyond it the oldest entries are forgotten. */
export const MAX_TRACKED_ADDRESSES = 65_536;

/** The key an address is counted under: IPv4 as is (also when IPv4-mapped), IPv6 by its /64. */
export function addressKey(remote: string | undefined): string {
  if (!remote) return '?';
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(remote);
  if (mapped) return mapped[1]!;
  if (!isIPv6(remote)) return remote;
  return `${expandIPv6(remote).slice(0, 4).join(':')}::/64`;
}

function expandIPv6(addr: string): string[] {
  const noZone = addr.split('%')[0]!;
  const [head, tail] = noZone.includes('::') ? noZone.split('::') as [string, string] : [noZone, undefined];
  const h = head ? head.split(':') : [];
  const t = tail ? tail.split(':') : [];
  const fill = tail === undefined ? [] : new Array<string>(Math.max(0, 8 - h.length - t.length)).fill('0');
  return [...h, ...fill, ...t].map((g) => (g.includes('.') ? g : g.toLowerCase().replace(/^0+(?=.)/, '')));
}

/** Open connections per address. */
export class ConnectionCounter {
  private readonly counts = new Map<string, number>();

  constructor(readonly maxPerAddress: number) {}

  /** Counts one more connection from `key`; false (and nothing counted) when it would exceed the limit. */
  tryAdd(key: string): boolean {
    const n = this.counts.get(key) ?? 0;
    if (n >= this.maxPerAddress) return false;
    this.counts.set(key, n + 1);
    return true;
  }

  remove(key: string): void {
    const n = this.counts.get(key) ?? 0;
    if (n <= 1) this.counts.delete(key);
    else this.counts.set(key, n - 1);
  }

  count(key: string): number {
    return this.counts.get(key) ?? 0;
  }
}

interface Bucket {
  tokens: number;
  atMs: number;
}

/**
 * Failed handshakes per address: a bucket of `perMinute` tokens that refills at `perMinute` a
 * minute. Each failure takes one; an address with an empty bucket is refused at once until it
 * refills, before anything it sends is read or hashed.
 */
export class FailureLimiter {
  private readonly buckets = new Map<string, Bucket>();

  constructor(readonly perMinute: number) {}

  private level(key: string, nowMs: number): Bucket | undefined {
    const b = this.buckets.get(key);
    if (!b) return undefined;
    b.tokens = Math.min(this.perMinute, b.tokens + ((nowMs - b.atMs) * this.perMinute) / 60_000);
    b.atMs = nowMs;
    if (b.tokens >= this.perMinute) {
      this.buckets.delete(key);
      return undefined;
    }
    return b;
  }

  /** True while `key` has used up its failures. */
  blocked(key: string, nowMs: number): boolean {
    const b = this.level(key, nowMs);
    return b !== undefined && b.tokens < 1;
  }

  /** Records a failure; returns true when this failure used up the address's allowance. */
  fail(key: string, nowMs: number): boolean {
    let b = this.level(key, nowMs);
    if (!b) {
      if (this.buckets.size >= MAX_TRACKED_ADDRESSES) this.buckets.delete(this.buckets.keys().next().value!);
      b = { tokens: this.perMinute, atMs: nowMs };
      this.buckets.set(key, b);
    }
    b.tokens = Math.max(0, b.tokens - 1);
    return b.tokens < 1;
  }

  /** When `key` may try again, ms from now (0 when it may now). */
  retryAfterMs(key: string, nowMs: number): number {
    const b = this.level(key, nowMs);
    if (!b || b.tokens >= 1) return 0;
    return Math.ceil(((1 - b.tokens) * 60_000) / this.perMinute);
  }

  get tracked(): number {
    return this.buckets.size;
  }
}
