/**
 * What the collector does with each message type once a session is established: a map from
 * type to handler, so grep finds every one. The hello is handled by the session itself.
 */
import { ERROR_CODES, ProtocolError } from '../shared/errors.ts';
import type { Message } from '../shared/frame_codec.ts';
import { MSG_FACTS, MSG_HELLO, MSG_SAMPLE, parseFacts, parseSample, type Sample } from '../shared/protocol.ts';
import type { Logger } from '../shared/log.ts';
import type { HostOwner, HostTable } from './hosts.ts';

export interface SessionContext extends HostOwner {
  readonly host: string;
  /** seq of the last sample accepted on this connection (0 before the first). */
  lastSeq: number;
  /** Set once a sample older than the host's newest reading arrived (a replayed buffer), so that it is logged once. */
  replaying?: boolean;
}

export interface HandlerDeps {
  readonly hosts: HostTable;
  readonly now: () => number;
  readonly log: Logger;
}

type Handler = (session: SessionContext, msg: Message, deps: HandlerDeps) => void;

/** Every message type allowed after the welcome. The hello is handled by the session. */
const HANDLERS: Readonly<Record<string, Handler>> = Object.freeze({
  [MSG_SAMPLE]: (session, msg, deps) => handleSample(session, parseSample(msg), deps),
  [MSG_FACTS]: (session, msg, deps) => {
    deps.hosts.updateFacts(session.host, session, parseFacts(msg), deps.now());
  },
});

/**
 * Stores one validated sample (from parseSample, or shared/sample_decoder.ts's fast path, which
 * yields the same Sample). Throws ProtocolError when its seq does not increase.
 */
export function handleSample(session: SessionContext, sample: Sample, deps: HandlerDeps): void {
  // Within a connection seq only grows: a replayed or reordered frame never overwrites a newer reading.
  if (sample.seq <= session.lastSeq) {
    throw new ProtocolError(ERROR_CODES.PROTO_BAD_FIELD, `seq: must increase, got ${sample.seq} after ${session.lastSeq}`, 'seq');
  }
  session.lastSeq = sample.seq;
  const result = deps.hosts.recordSample(session.host, session, sample, deps.now());
  // Across connections, an older sample (the agent's buffer from an outage, a resend of what
  // was not acknowledged, a clock that stepped back) goes into the history at its own time
  // and never overwrites the newer latest reading.
  if (result === 'history' && !session.replaying) {
    session.replaying = true;
    deps.log.info('older samples placed in the history only', { host: session.host, ts: sample.ts });
  }
}

/** Handles one message of an established session. Throws ProtocolError for anything not allowed. */
export function dispatch(session: SessionContext, msg: Message, deps: HandlerDeps): void {
  const type = msg['type'];
  if (typeof type !== 'string') throw new ProtocolError(ERROR_CODES.PROTO_BAD_FIELD, 'type: missing or not a string', 'type');
  if (type === MSG_HELLO) throw new ProtocolError(ERROR_CODES.PROTO_UNEXPECTED, 'type: hello sent twice', 'type');
  const handler = Object.hasOwn(HANDLERS, type) ? HANDLERS[type] : undefined;
  if (!handler) throw new ProtocolError(ERROR_CODES.PROTO_UNKNOWN_TYPE, `type: unknown message type "${type.slice(0, 40)}"`, 'type');
  handler(session, msg, deps);
}
