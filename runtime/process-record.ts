import { PermanentError } from '../lib/errors.ts';
import { createRetry, type Retry } from '../lib/retry.ts';
import type { ProcessorSpec } from '../topology/types.ts';
import { type FailedRecord, previousAttempts, type RoutedFailure, routeFailure } from './failures.ts';
import { Header, type Headers } from './headers.ts';
import { MAX_RECORD_BYTES, recordBytes } from './transactions.ts';
import type { Handler, HandlerContext, InputRecord, OutputRecord } from './types.ts';

// One record through decode → handler (retried in place) → encode. Everything that can fail for
// this record alone ends here as a routed failure, so one bad record never fails its batch.

export interface RecordCodec {
  decode(buffer: Buffer | null): Promise<unknown>;
  encode(topic: string, value: unknown): Promise<Buffer>;
}

export interface EncodedMessage {
  topic: string;
  key: Buffer | string | null;
  value: Buffer | null;
  headers: Headers;
}

export type RecordOutcome =
  | { ok: true; messages: EncodedMessage[]; attempts: number }
  | { ok: false; failure: RoutedFailure; attempts: number; error: unknown };

export interface ProcessRecordDeps {
  spec: ProcessorSpec;
  // biome-ignore lint/suspicious/noExplicitAny: resources are typed by each processor's definition
  handler: Handler<any, any>;
  codec: RecordCodec;
  now?: () => number;
}

export type OnRetry = (info: { attempt: number; delayMs: number; error: unknown }) => void;

export type RecordProcessor = (
  record: FailedRecord,
  ctx: HandlerContext,
  /** Called before each in-place retry (metrics, logs). */
  onRetry?: OnRetry,
) => Promise<RecordOutcome>;

/** Builds, once per processor, the function that takes one record through decode → handler → encode. */
export function createRecordProcessor(deps: ProcessRecordDeps): RecordProcessor {
  const retry = createRetry({
    attempts: deps.spec.retry.attempts,
    initialDelayMs: deps.spec.retry.initialDelayMs,
    maxDelayMs: deps.spec.retry.maxDelayMs,
  });
  return (record, ctx, onRetry) => processRecord(deps, retry, record, ctx, onRetry);
}

/** The decoded record as a handler sees it. */
export function toInput(record: FailedRecord, value: unknown, attempt: number): InputRecord {
  return {
    topic: record.headers[Header.ORIGINAL_TOPIC] ?? record.topic,
    partition: record.partition,
    offset: record.offset,
    key: record.key === null ? null : record.key.toString('utf8'),
    value,
    headers: record.headers,
    timestamp: record.timestamp,
    attempt,
  };
}

/** Where an input record came from, for messages about it: `topic/partition@offset`. */
export const originOf = (record: FailedRecord) =>
  `${record.headers[Header.ORIGINAL_TOPIC] ?? record.topic}/${record.headers[Header.ORIGINAL_PARTITION] ?? record.partition}@${record.headers[Header.ORIGINAL_OFFSET] ?? record.offset}`;

/**
 * Encodes a handler's outputs. Permanent errors (the input record is dead-lettered): an output to
 * a topic the processor does not declare, and an output larger than one Kafka record may be
 * (MAX_RECORD_BYTES), which the broker would refuse in every transaction that carries it.
 */
export async function encodeOutputs(
  spec: ProcessorSpec,
  codec: RecordCodec,
  outputs: readonly OutputRecord[],
  attempts: number,
  origin?: FailedRecord,
): Promise<EncodedMessage[]> {
  const encoded: EncodedMessage[] = [];
  for (const out of outputs) {
    if (!spec.outputs.includes(out.topic)) {
      throw new PermanentError(`handler emitted to ${out.topic}, which is not an output of ${spec.name}`);
    }
    // Attempts are recorded on an output only when it took more than one: a header on every
    // record would cost every record its encoding.
    const headers =
      attempts > 1 ? { ...out.headers, [Header.ATTEMPTS]: String(attempts) } : { ...out.headers };
    const message: EncodedMessage = {
      topic: out.topic,
      key: out.key,
      value: await codec.encode(out.topic, out.value),
      headers,
    };
    const bytes = recordBytes(message);
    if (bytes > MAX_RECORD_BYTES) {
      throw new PermanentError(
        `output to ${out.topic} is ${bytes} bytes, over the ${MAX_RECORD_BYTES} one Kafka record may have (broker message.max.bytes)${origin ? `; input ${originOf(origin)}` : ''}`,
      );
    }
    encoded.push(message);
  }
  return encoded;
}

export function failureOutcome(
  spec: ProcessorSpec,
  record: FailedRecord,
  error: unknown,
  attempts: number,
  now: number,
): RecordOutcome {
  const failure = routeFailure({
    processor: spec.name,
    group: spec.name,
    retry: spec.retry,
    record,
    error,
    attempts,
    now,
  });
  return { ok: false, failure, attempts, error };
}

async function attemptOnce(
  deps: ProcessRecordDeps,
  record: FailedRecord,
  ctx: HandlerContext,
  attempt: number,
): Promise<EncodedMessage[]> {
  const input = toInput(record, await deps.codec.decode(record.value), attempt);
  return encodeOutputs(deps.spec, deps.codec, await deps.handler(input, ctx), attempt, record);
}

async function processRecord(
  deps: ProcessRecordDeps,
  retry: Retry,
  record: FailedRecord,
  ctx: HandlerContext,
  onRetry?: OnRetry,
): Promise<RecordOutcome> {
  const before = previousAttempts(record.headers);
  // The first attempt runs outside the retry helper (no closure per record): nearly every
  // record succeeds at once.
  let firstError: unknown;
  try {
    return { ok: true, messages: await attemptOnce(deps, record, ctx, before + 1), attempts: before + 1 };
  } catch (error) {
    firstError = error;
  }
  let made = 1;
  try {
    const { value: messages } = await retry.after(
      firstError,
      (n) => {
        made = n;
        return attemptOnce(deps, record, ctx, before + n);
      },
      { onRetry },
    );
    return { ok: true, messages, attempts: before + made };
  } catch (error) {
    return failureOutcome(deps.spec, record, error, before + made, (deps.now ?? Date.now)());
  }
}
