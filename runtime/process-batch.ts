import { setTimeout as sleep } from 'node:timers/promises';
import { isRetriable, PermanentError } from '../lib/errors.ts';
import { backoffDelay, DEFAULT_RETRY, type RetryOptions } from '../lib/retry.ts';
import type { ProcessorSpec } from '../topology/types.ts';
import { type FailedRecord, previousAttempts } from './failures.ts';
import {
  encodeOutputs,
  failureOutcome,
  type OnRetry,
  type RecordCodec,
  type RecordOutcome,
  toInput,
} from './process-record.ts';
import type { BatchHandler, BatchItemOutcome, HandlerContext } from './types.ts';

// A batch of records through decode → batch handler → encode, Lambda's batchItemFailures
// contract: the handler answers one outcome per record. Records that failed retriably are tried
// again in place, alone (the ones that succeeded are not handed over twice); what still fails
// after the attempts is routed like a single record's failure (retry tier, then dead letters).

export interface ProcessBatchDeps {
  spec: ProcessorSpec;
  // biome-ignore lint/suspicious/noExplicitAny: resources are typed by each processor's definition
  handler: BatchHandler<any, any>;
  codec: RecordCodec;
  now?: () => number;
  /** Tests: no waiting between in-place attempts. */
  sleep?: (ms: number) => Promise<unknown>;
}

export type BatchProcessor = (
  records: readonly FailedRecord[],
  ctx: HandlerContext,
  onRetry?: OnRetry,
) => Promise<RecordOutcome[]>;

export function createBatchProcessor(deps: ProcessBatchDeps): BatchProcessor {
  const { spec, handler, codec } = deps;
  const policy: RetryOptions = {
    ...DEFAULT_RETRY,
    attempts: spec.retry.attempts,
    initialDelayMs: spec.retry.initialDelayMs,
    maxDelayMs: spec.retry.maxDelayMs,
  };
  const now = deps.now ?? Date.now;
  const wait = deps.sleep ?? sleep;

  return async (records, ctx, onRetry) => {
    const outcomes: RecordOutcome[] = new Array(records.length);
    const before = records.map((r) => previousAttempts(r.headers));
    const decoded: ({ value: unknown } | undefined)[] = new Array(records.length);
    let pending = records.map((_, i) => i);

    for (let attempt = 1; pending.length > 0; attempt++) {
      const errors = new Map<number, unknown>();
      const ready: number[] = [];
      for (const i of pending) {
        if (decoded[i] === undefined) {
          try {
            decoded[i] = { value: await codec.decode(records[i]!.value) };
          } catch (err) {
            errors.set(i, err);
            continue;
          }
        }
        ready.push(i);
      }

      if (ready.length > 0) {
        const inputs = ready.map((i) => toInput(records[i]!, decoded[i]!.value, before[i]! + attempt));
        let results: readonly BatchItemOutcome[] = [];
        try {
          results = await handler(inputs, ctx);
          if (!Array.isArray(results) || results.length !== inputs.length) {
            throw new PermanentError(
              `the batch handler of ${spec.name} answered ${Array.isArray(results) ? results.length : 'no'} outcomes for ${inputs.length} records`,
            );
          }
        } catch (err) {
          for (const i of ready) errors.set(i, err);
          results = [];
        }
        for (let j = 0; j < results.length; j++) {
          const i = ready[j]!;
          const result = results[j]!;
          if ('error' in result) {
            errors.set(i, result.error);
            continue;
          }
          try {
            const messages = await encodeOutputs(
              spec,
              codec,
              result.outputs,
              before[i]! + attempt,
              records[i],
            );
            outcomes[i] = { ok: true, messages, attempts: before[i]! + attempt };
          } catch (err) {
            errors.set(i, err);
          }
        }
      }

      pending = [];
      for (const [i, err] of errors) {
        if (attempt < policy.attempts && isRetriable(err)) pending.push(i);
        else outcomes[i] = failureOutcome(spec, records[i]!, err, before[i]! + attempt, now());
      }
      pending.sort((a, b) => a - b);
      if (pending.length > 0) {
        const delayMs = backoffDelay(policy, attempt);
        onRetry?.({ attempt, delayMs, error: errors.get(pending[0]!) });
        await wait(delayMs);
      }
    }
    return outcomes;
  };
}
