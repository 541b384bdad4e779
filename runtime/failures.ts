import { describeError, isRetriable, RegflowError } from '../lib/errors.ts';
import { deadLetterTopicName, type RetryPolicy, retryTopicName } from '../topology/types.ts';
import { Header, type Headers } from './headers.ts';

// Where a failed record goes next, and the headers it carries there. Pure: the runtime sends
// what this returns in the same transaction that commits the failed record's offset.

export interface FailedRecord {
  topic: string;
  partition: number;
  offset: string;
  timestamp: string;
  key: Buffer | null;
  value: Buffer | null;
  headers: Headers;
}

export interface RoutedFailure {
  kind: 'retry' | 'dead-letter';
  topic: string;
  key: Buffer | null;
  value: Buffer | null;
  headers: Headers;
}

/** The tier a record was consumed from: 0 for the processor's own inputs, N for `<processor>.retry-N`. */
export function tierOf(processor: string, topic: string): number {
  const prefix = `${processor}.retry-`;
  if (!topic.startsWith(prefix)) return 0;
  const n = Number(topic.slice(prefix.length));
  return Number.isInteger(n) && n > 0 ? n : 0;
}

/** Attempts already made before this delivery (from the header a retry tier carries). */
export function previousAttempts(headers: Headers): number {
  const n = Number(headers[Header.ATTEMPTS] ?? 0);
  return Number.isInteger(n) && n > 0 ? n : 0;
}

function errorClass(err: unknown): string {
  if (err instanceof Error) return err.constructor.name || err.name;
  return typeof err;
}

/**
 * Routes a record whose handling failed: retriable errors go to the next retry tier while there
 * is one, everything else (permanent errors, the last tier) to the dead-letter topic. The origin
 * headers are written once, on the first failure, and carried unchanged through every tier.
 */
export function routeFailure(args: {
  processor: string;
  group: string;
  retry: RetryPolicy;
  record: FailedRecord;
  error: unknown;
  attempts: number;
  now: number;
}): RoutedFailure {
  const { processor, retry, record, error, attempts, now } = args;
  const nextTier = tierOf(processor, record.topic) + 1;
  const headers: Headers = { ...record.headers };
  if (headers[Header.ORIGINAL_TOPIC] === undefined) {
    headers[Header.ORIGINAL_TOPIC] = record.topic;
    headers[Header.ORIGINAL_PARTITION] = String(record.partition);
    headers[Header.ORIGINAL_OFFSET] = record.offset;
    headers[Header.ORIGINAL_TIMESTAMP] = record.timestamp;
    headers[Header.ORIGINAL_CONSUMER_GROUP] = args.group;
  }
  headers[Header.ATTEMPTS] = String(attempts);
  headers[Header.EXCEPTION_FQCN] = errorClass(error);
  headers[Header.EXCEPTION_MESSAGE] = describeError(error).slice(0, 2_000);
  if (error instanceof RegflowError) headers[Header.EXCEPTION_CODE] = error.code;

  if (isRetriable(error) && nextTier <= retry.tierDelaysMs.length) {
    headers[Header.BACKOFF_TIMESTAMP] = String(now + retry.tierDelaysMs[nextTier - 1]!);
    return {
      kind: 'retry',
      topic: retryTopicName(processor, nextTier),
      key: record.key,
      value: record.value,
      headers,
    };
  }
  delete headers[Header.BACKOFF_TIMESTAMP];
  return {
    kind: 'dead-letter',
    topic: deadLetterTopicName(processor),
    key: record.key,
    value: record.value,
    headers,
  };
}

/** For a record read from a retry tier: the epoch millis before which it must wait (0 = due). */
export function dueAt(headers: Headers): number {
  const n = Number(headers[Header.BACKOFF_TIMESTAMP] ?? 0);
  return Number.isFinite(n) ? n : 0;
}
