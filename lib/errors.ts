// The one error module. Every error regflow raises on purpose is a RegflowError with a stable
// `code` and a `retriable` flag; `isRetriable` classifies anything (including foreign errors)
// and never throws.

export const ErrorCode = {
  CONFIG: 'REGFLOW_CONFIG',
  INFRA: 'REGFLOW_INFRA',
  VALIDATION: 'REGFLOW_VALIDATION',
  DECODE: 'REGFLOW_DECODE',
  TRANSIENT: 'REGFLOW_TRANSIENT',
  PERMANENT: 'REGFLOW_PERMANENT',
  USAGE: 'REGFLOW_USAGE',
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

export class RegflowError extends Error {
  readonly code: ErrorCode;
  readonly retriable: boolean;

  constructor(code: ErrorCode, message: string, options: { retriable?: boolean; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.retriable = options.retriable ?? false;
  }
}

/** A bad environment variable (or other start-up setting). Names the variable. */
export class ConfigError extends RegflowError {
  readonly variable: string;
  constructor(variable: string, reason: string) {
    super(ErrorCode.CONFIG, `${variable}: ${reason}`);
    this.variable = variable;
  }
}

/** A local-infrastructure problem an operator must fix (missing tool, busy port, failed health check). */
export class InfraError extends RegflowError {
  constructor(message: string, options: { cause?: unknown } = {}) {
    super(ErrorCode.INFRA, message, options);
  }
}

/** Wrong command-line usage. */
export class UsageError extends RegflowError {
  constructor(message: string) {
    super(ErrorCode.USAGE, message);
  }
}

/** Worth trying again: timeouts, throttling, 5xx, a broker that is electing a leader. */
export class RetriableError extends RegflowError {
  constructor(message: string, options: { cause?: unknown } = {}) {
    super(ErrorCode.TRANSIENT, message, { ...options, retriable: true });
  }
}

/** Trying again cannot help: bad input, schema violation, an impossible state. */
export class PermanentError extends RegflowError {
  constructor(message: string, options: { cause?: unknown; code?: ErrorCode } = {}) {
    super(options.code ?? ErrorCode.PERMANENT, message, { cause: options.cause, retriable: false });
  }
}

/** Bad input at a boundary; `field` says which part of it and why. */
export class ValidationError extends PermanentError {
  readonly field: string;
  constructor(field: string, reason: string) {
    super(`${field}: ${reason}`, { code: ErrorCode.VALIDATION });
    this.field = field;
  }
}

const RETRIABLE_NODE_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'EAI_AGAIN',
  'ENOTFOUND',
  'EHOSTUNREACH',
  'ENETUNREACH',
]);

/**
 * Classifies any thrown value. RegflowErrors say so themselves; kafkajs errors carry `retriable`;
 * AWS SDK errors carry `$retryable` or a 5xx/429 status; socket errors and client timeouts are retriable.
 * Everything else is permanent.
 */
export function isRetriable(err: unknown): boolean {
  try {
    if (err instanceof RegflowError) return err.retriable;
    if (typeof err !== 'object' || err === null) return false;
    const e = err as Record<string, unknown>;
    if (typeof e.retriable === 'boolean') return e.retriable;
    if (e.$retryable !== undefined && e.$retryable !== null) return true;
    const status = (e.$metadata as { httpStatusCode?: number } | undefined)?.httpStatusCode;
    if (typeof status === 'number') return status >= 500 || status === 429;
    if (typeof e.code === 'string' && RETRIABLE_NODE_CODES.has(e.code)) return true;
    // Client-side timeouts (lib/clients.ts): the AWS SDK's HTTP handler, the MongoDB driver, ioredis.
    if (e.name === 'TimeoutError') return true;
    if (
      e.name === 'MongoNetworkError' ||
      e.name === 'MongoNetworkTimeoutError' ||
      e.name === 'MongoServerSelectionError'
    )
      return true;
    if (e.message === 'Command timed out') return true;
    // FerretDB on SQLite under write contention: try again.
    if (e.name === 'MongoServerError' && /database is locked|SQLITE_BUSY/.test(String(e.message)))
      return true;
    return false;
  } catch {
    return false;
  }
}

/** One line for an operator: the message, and the cause's message when there is one. */
export function describeError(err: unknown): string {
  if (err instanceof Error) {
    const cause = err.cause instanceof Error ? ` (cause: ${err.cause.message})` : '';
    return `${err.message}${cause}`;
  }
  return String(err);
}
