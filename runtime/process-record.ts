import { PermanentError } from '../lib/errors.ts';
import { createRetry } from '../lib/retry.ts';
import type { ProcessorSpec } from '../topology/types.ts';
import { type FailedRecord, previousAttempts, type RoutedFailure, routeFailure } from './failures.ts';
import { Header, type Headers } from './headers.ts';
import type { Handler, HandlerContext, InputRecord } from './types.ts';

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
  handler: Handler;
  codec: RecordCodec;
  now?: () => number;
}

export type RecordProcessor = (
  record: FailedRecord,
  ctx: HandlerContext,
  /** Called before each in-place retry (metrics, logs). */
  onRetry?: (info: { attempt: number; delayMs: number; error: unknown }) => void,
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

async function processRecord(
  deps: ProcessRecordDeps,
  retry: ReturnType<typeof createRetry>,
  record: FailedRecord,
  ctx: HandlerContext,
  onRetry?: (info: { attempt: number; delayMs: number; error: unknown }) => void,
): Promise<RecordOutcome> {
  const { spec, handler, codec } = deps;
  const before = previousAttempts(record.headers);
  let made = 0;
  try {
    const { value: messages } = await retry(
      async () => {
        made++;
        const value = await codec.decode(record.value);
        const input: InputRecord = {
          topic: record.headers[Header.ORIGINAL_TOPIC] ?? record.topic,
          partition: record.partition,
          offset: record.offset,
          key: record.key === null ? null : record.key.toString('utf8'),
          value,
          headers: record.headers,
          timestamp: record.timestamp,
          attempt: before + made,
        };
        const outputs = await handler(input, ctx);
        const encoded: EncodedMessage[] = [];
        for (const out of outputs) {
          if (!spec.outputs.includes(out.topic)) {
            throw new PermanentError(
              `handler emitted to ${out.topic}, which is not an output of ${spec.name}`,
            );
          }
          // Attempts are recorded on an output only when it took more than one: a header on every
          // record would cost every record its encoding.
          const attempts = before + made;
          const headers =
            attempts > 1 ? { ...out.headers, [Header.ATTEMPTS]: String(attempts) } : { ...out.headers };
          encoded.push({
            topic: out.topic,
            key: out.key,
            value: await codec.encode(out.topic, out.value),
            headers,
          });
        }
        return encoded;
      },
      { onRetry },
    );
    return { ok: true, messages, attempts: before + made };
  } catch (error) {
    const attempts = before + made;
    const failure = routeFailure({
      processor: spec.name,
      group: spec.name,
      retry: spec.retry,
      record,
      error,
      attempts,
      now: (deps.now ?? Date.now)(),
    });
    return { ok: false, failure, attempts, error };
  }
}
