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
 * Every hello costs the same: one scrypt against the host's record, or against a dummy record
 * when the host has none, and one constant-time comparison with the cluster token. So neither
 * the answer time nor the answer tells whether a host name is known.
 */
import { DUMMY_RECORD, verifyToken, type HostTokenSet } from './host_tokens.ts';
import { tokensEqual } from './token.ts';

export type AuthMode = 'cluster' | 'per-host';

/** What a session was admitted with: re-checked when the token file changes. */
export type Credential = { kind: 'host'; salt: string } | { kind: 'cluster' };

export class Authenticator {
  constructor(
    private readonly hostTokens: HostTokenSet,
    private readonly clusterToken: string,
    readonly mode: AuthMode,
  ) {}

  /** Resolves with the credential `token` proves for `host`, or null. Never rejects for a bad token. */
  async verify(host: string, token: string): Promise<Credential | null> {
    this.hostTokens.refresh();
    const record = this.hostTokens.get(host);
    const hostOk = await verifyToken(record ?? DUMMY_RECORD, token);
    const clusterOk = tokensEqual(token, this.clusterToken);
    const cred: Credential | null = record
      ? (hostOk ? { kind: 'host', salt: record.salt } : null)
      : (clusterOk ? { kind: 'cluster' } : null);
    // The token file may have changed during the hash: decide against what holds now.
    return cred && this.stillValid(host, cred) ? cred : null;
  }

  /** Whether a session admitted earlier with `cred` for `host` may go on under the current token file. */
  stillValid(host: string, cred: Credential): boolean {
    const record = this.hostTokens.get(host);
    if (cred.kind === 'host') return record !== undefined && record.salt === cred.salt;
    // A token file that exists but cannot be read might name this host: fail closed.
    return record === undefined && this.mode === 'cluster' && this.hostTokens.trustworthy;
  }

  /** Re-reads the token file if it changed. */
  refresh(): void {
    this.hostTokens.refresh();
  }

  /** Changes whenever the set of host tokens does (see HostTokenSet.generation). */
  get generation(): number {
    return this.hostTokens.generation;
  }
}
