/**
 * Error classes with stable codes. Callers and tests match on `code`, never on the wording.
 * Programmer mistakes throw plain TypeError / RangeError instead.
 *
 * Every code here may travel to an agent in an `error` frame, so codes are append-only:
 * a code is never renamed or reused (see shared/PROTOCOL.md, "Error codes").
 */

export const ERROR_CODES = Object.freeze({
  // Framing (shared/frame_codec.ts): the bytes are not one well-formed frame.
  FRAME_EMPTY: 'SENTINEL_FRAME_EMPTY',
  FRAME_TOO_LARGE: 'SENTINEL_FRAME_TOO_LARGE',
  FRAME_MALFORMED: 'SENTINEL_FRAME_MALFORMED',
  FRAME_NOT_MAP: 'SENTINEL_FRAME_NOT_MAP',
  FRAME_TOO_DEEP: 'SENTINEL_FRAME_TOO_DEEP',
  FRAME_FORBIDDEN_TYPE: 'SENTINEL_FRAME_FORBIDDEN_TYPE',
  FRAME_FORBIDDEN_KEY: 'SENTINEL_FRAME_FORBIDDEN_KEY',
  // Protocol (shared/protocol.ts): a well-formed map that is not a valid message.
  PROTO_UNKNOWN_TYPE: 'SENTINEL_PROTO_UNKNOWN_TYPE',
  PROTO_BAD_FIELD: 'SENTINEL_PROTO_BAD_FIELD',
  PROTO_VERSION: 'SENTINEL_PROTO_VERSION',
  PROTO_UNEXPECTED: 'SENTINEL_PROTO_UNEXPECTED',
  // Session (collector/server.ts).
  AUTH_FAILED: 'SENTINEL_AUTH_FAILED',
  HELLO_TIMEOUT: 'SENTINEL_HELLO_TIMEOUT',
  IDLE_TIMEOUT: 'SENTINEL_IDLE_TIMEOUT',
  CAPACITY_FULL: 'SENTINEL_CAPACITY_FULL',
  HOST_REPLACED: 'SENTINEL_HOST_REPLACED',
  SHUTDOWN: 'SENTINEL_SHUTDOWN',
  // Local.
  CONFIG_INVALID: 'SENTINEL_CONFIG_INVALID',
  SHM_INCONSISTENT: 'SENTINEL_SHM_INCONSISTENT',
  // Appended: a host name already held by a live connection.
  HOST_IN_USE: 'SENTINEL_HOST_IN_USE',
  TOO_MANY_CONNECTIONS: 'SENTINEL_TOO_MANY_CONNECTIONS',
  // Appended: too many failed handshakes from one address; a host token revoked while connected.
  RATE_LIMITED: 'SENTINEL_RATE_LIMITED',
  AUTH_REVOKED: 'SENTINEL_AUTH_REVOKED',
  // Appended: the saved state file cannot be restored.
  STATE_FILE_INVALID: 'SENTINEL_STATE_FILE_INVALID',
} as const);

export type ErrorCode = (typeof ERROR_CODES)[keyof typeof ERROR_CODES];

/** Base class: every error the project raises on purpose carries a stable code. */
export class SentinelError extends Error {
  readonly code: ErrorCode;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }
}

/** Another protocol's opening bytes where a frame header was expected (see frame_codec.ts). */
export type ForeignProtocol = 'http' | 'tls';

/** The bytes on the wire do not form one acceptable frame. The connection cannot continue. */
export class FrameError extends SentinelError {
  /** Set when the stream opened with another protocol's bytes: an HTTP request, a TLS handshake. */
  readonly foreign: ForeignProtocol | null;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown; foreign?: ForeignProtocol | null }) {
    super(code, message, options);
    this.foreign = options?.foreign ?? null;
  }
}

/** A decoded message breaks the protocol (wrong type, missing field, value out of range, wrong order). */
export class ProtocolError extends SentinelError {
  /** The field at fault, when there is one (e.g. `mem_used_bytes`). */
  readonly field: string | undefined;

  constructor(code: ErrorCode, message: string, field?: string) {
    super(code, message);
    this.field = field;
  }
}

/** The session is refused or ended by the collector (auth, capacity, timeouts, shutdown). */
export class SessionError extends SentinelError {}

/** A setting is invalid; the message names it. Raised once at start. */
export class ConfigError extends SentinelError {
  readonly setting: string;

  constructor(setting: string, message: string) {
    super(ERROR_CODES.CONFIG_INVALID, `${setting}: ${message}`);
    this.setting = setting;
  }
}

/** Shared memory failed a consistency check (scripts/test_reader.ts). */
export class ShmError extends SentinelError {
  constructor(message: string) {
    super(ERROR_CODES.SHM_INCONSISTENT, message);
  }
}

/** The collector's saved state file is damaged, truncated or of another layout (collector/state_codec.ts). */
export class StateFileError extends SentinelError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(ERROR_CODES.STATE_FILE_INVALID, message, options);
  }
}
