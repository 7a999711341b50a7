/**
 * Who may speak for a host. Two kinds of credential:
 * - a per-host token (collector/host_tokens.ts), bound to one host name;
 * - the cluster token (collector/token.ts), one secret for every host that has no token of its
 *   own; allowed in auth mode `cluster` (the default, so that a newcomer's first agent joins at
 *   once) and refused in mode `per-host`.
 * A host that has its own token must use it: the cluster token never opens its slot.
 *
 * While the token file exists but cannot be read, the cluster token opens nothing (fail closed).
 *
 * A hello with a wrong token always costs the same: one scrypt against the host's record, or
 * against a dummy record when the host has none, and one constant-time comparison with the
 * cluster token. So to anyone without a working token, neither the answer time nor the answer
 * tells whether a host name is known.
 *
 * A hello with a working token is answered without a new scrypt where that is safe, so that a
 * fleet of thousands reconnecting after a collector restart is admitted in seconds rather than
 * at ~10 ms of CPU per agent (19,000 agents: three minutes of both cores):
 * - the cluster token, for a host without a token of its own, in `cluster` mode: there is no
 *   hash to check, only the constant-time comparison (the dummy scrypt exists to hide whether a
 *   host has a record from someone who holds no working token; the holder of the cluster token
 *   may already speak for every host without a record);
 * - a per-host token that scrypt accepted before, under the same record (salt): remembered as
 *   an HMAC of host and token under a key made for this process, never the token itself.
 */
import { createHmac, randomBytes } from 'node:crypto';
import { DUMMY_RECORD, verifyToken, type HostTokenSet } from './host_tokens.ts';
import { tokensEqual } from './token.ts';

/** Per-host tokens remembered as proven; the oldest is forgotten past this. */
export const MAX_PROVEN_TOKENS = 65_536;

export type AuthMode = 'cluster' | 'per-host';

/** What a session was admitted with: re-checked when the token file changes. */
export type Credential = { kind: 'host'; salt: string } | { kind: 'cluster'; epoch: number };

export class Authenticator {
  /** HMAC(host, token) -> the salt of the record scrypt accepted it under. */
  private readonly proven = new Map<string, string>();
  private readonly provenKey = randomBytes(32);
  /** Scrypt checks run so far (for tests and diagnostics). */
  hashes = 0;
  /** Bumped when the cluster token is replaced: sessions admitted under an older one are closed. */
  private clusterEpoch = 0;

  constructor(
    private readonly hostTokens: HostTokenSet,
    private clusterToken: string,
    readonly mode: AuthMode,
  ) {}

  /**
   * Replaces the cluster token (a reload after a rotation). Hellos from now on need the new
   * one, and sessions admitted with the old one are closed at the next credential check, so a
   * leaked token stops working everywhere at once. The same token again changes nothing.
   */
  setClusterToken(token: string): boolean {
    if (tokensEqual(token, this.clusterToken)) return false;
    this.clusterToken = token;
    this.clusterEpoch++;
    return true;
  }

  /** Resolves with the credential `token` proves for `host`, or null. Never rejects for a bad token. */
  async verify(host: string, token: string): Promise<Credential | null> {
    this.hostTokens.refresh();
    const record = this.hostTokens.get(host);
    const clusterOk = tokensEqual(token, this.clusterToken);
    if (!record && clusterOk && this.mode === 'cluster' && this.hostTokens.trustworthy) return { kind: 'cluster', epoch: this.clusterEpoch };
    const provenKey = record ? this.provenKeyOf(host, token) : '';
    if (record && this.proven.get(provenKey) === record.salt) return { kind: 'host', salt: record.salt };
    this.hashes++;
    const hostOk = await verifyToken(record ?? DUMMY_RECORD, token);
    if (record && hostOk) this.remember(provenKey, record.salt);
    const cred: Credential | null = record
      ? (hostOk ? { kind: 'host', salt: record.salt } : null)
      : (clusterOk ? { kind: 'cluster', epoch: this.clusterEpoch } : null);
    // The token file may have changed during the hash: decide against what holds now.
    return cred && this.stillValid(host, cred) ? cred : null;
  }

  private provenKeyOf(host: string, token: string): string {
    return createHmac('sha256', this.provenKey).update(host).update('\0').update(token).digest('base64');
  }

  private remember(key: string, salt: string): void {
    this.proven.delete(key);
    if (this.proven.size >= MAX_PROVEN_TOKENS) this.proven.delete(this.proven.keys().next().value!);
    this.proven.set(key, salt);
  }

  /** Whether a session admitted earlier with `cred` for `host` may go on under the current token file. */
  stillValid(host: string, cred: Credential): boolean {
    const record = this.hostTokens.get(host);
    if (cred.kind === 'host') return record !== undefined && record.salt === cred.salt;
    // A token file that exists but cannot be read might name this host: fail closed.
    return record === undefined && this.mode === 'cluster' && this.hostTokens.trustworthy && cred.epoch === this.clusterEpoch;
  }

  /** Re-reads the token file if it changed. */
  refresh(): void {
    this.hostTokens.refresh();
  }

  /** Changes whenever the set of host tokens or the cluster token does (see HostTokenSet.generation). */
  get generation(): number {
    return this.hostTokens.generation + this.clusterEpoch;
  }
}
