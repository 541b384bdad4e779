import type { ProcessorSpec } from '../topology/types.ts';
import type { Headers } from './headers.ts';
import type { ResourceMap } from './resources.ts';

// The contract between the runtime and a processor. A processor is a pure handler (one record, or
// a batch with one outcome per record, as Lambda's batchItemFailures) plus the resources it needs.
// It never sees producers, offsets, retry topics or transactions.

export interface InputRecord<V = unknown> {
  /** The topic the record was first written to (for a record replayed from a retry tier, that tier's origin). */
  topic: string;
  partition: number;
  offset: string;
  key: string | null;
  value: V;
  headers: Headers;
  timestamp: string;
  /** 1 on the first try; counts in-place retries and retry tiers. */
  attempt: number;
}

export interface OutputRecord<V = unknown> {
  topic: string;
  key: string | null;
  value: V;
  headers?: Headers;
}

export interface HandlerLogger {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
}

/**
 * What a handler did with its records, by outcome (e.g. applied, stale-rejected, skipped), as
 * `regflow_handler_outcomes_total{processor, outcome}`. Counted when the records' transaction
 * commits; a chunk whose transaction aborts counts nothing (it is handled again).
 */
export interface HandlerMetrics {
  count(outcome: string, n?: number): void;
}

export interface HandlerContext<R = unknown> {
  processor: string;
  /** Logger bound to processor/topic/partition (and the offset, for a record handler); personal data is redacted. */
  log: HandlerLogger;
  /** The processor's resources (stores, clients), opened once at start and shared by its handlers. */
  resources: R;
  /** The runtime always sets it; optional so that unit tests may leave it out. */
  metrics?: HandlerMetrics;
  /**
   * Keeps the consumer's group membership alive during a long handler call: call it while making
   * progress (per page of rows, per write). Throttled and never throws (runtime/heartbeat.ts).
   * Absent outside the runtime (unit tests).
   */
  heartbeat?: () => Promise<void>;
}

export type Handler<V = unknown, R = unknown> = (
  record: InputRecord<V>,
  ctx: HandlerContext<R>,
) => Promise<readonly OutputRecord[]> | readonly OutputRecord[];

/**
 * One record's outcome in a batch: its outputs, or the error it failed with. A retriable error
 * (RetriableError, a timeout, throttling) sends the record alone through the in-place attempts,
 * then the retry tiers; a permanent one sends it to the dead-letter topic at once.
 */
export type BatchItemOutcome = { readonly outputs: readonly OutputRecord[] } | { readonly error: unknown };

export const succeeded = (outputs: readonly OutputRecord[] = []): BatchItemOutcome => ({ outputs });
export const failed = (error: unknown): BatchItemOutcome => ({ error });

/** Must return exactly one outcome per record, in the order given. Throwing fails every record of the batch. */
export type BatchHandler<V = unknown, R = unknown> = (
  records: readonly InputRecord<V>[],
  ctx: HandlerContext<R>,
) => Promise<readonly BatchItemOutcome[]>;

interface DefinitionBase<R> {
  spec: ProcessorSpec;
  /** Avro schema (parsed .avsc) of every output topic, registered under `<topic>-value` at start. */
  outputSchemas: Readonly<Record<string, object>>;
  /** Opened before the consumer starts, handed to the handler as `ctx.resources`, closed at stop. */
  resources?: ResourceMap<R>;
}

export type ProcessorDefinition<V = unknown, R = unknown> = DefinitionBase<R> &
  (
    | { handler: Handler<V, R>; batch?: undefined }
    | {
        handler?: undefined;
        /** A batch handler and its batch size (e.g. 25, as the spec's replication workers). */
        batch: { size: number; handler: BatchHandler<V, R> };
      }
  );

// biome-ignore lint/suspicious/noExplicitAny: a registry of processors of every value and resource type
export type AnyProcessorDefinition = ProcessorDefinition<any, any>;

/** Test-only hooks into the transaction path: a crash or a stop before a transaction begins, or between send and commit. */
export interface FaultHooks {
  beforeCommit?: (info: { transaction: number; topic: string; partition: number }) => void | Promise<void>;
  /** After a chunk was handled, before its transaction begins (`transaction` counts them from 1). */
  beforeTransaction?: (info: {
    transaction: number;
    topic: string;
    partition: number;
  }) => void | Promise<void>;
}
