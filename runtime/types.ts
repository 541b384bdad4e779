import type { ProcessorSpec } from '../topology/types.ts';
import type { Headers } from './headers.ts';

// The contract between the runtime and a processor: a pure handler gets one decoded record and
// returns the records to emit. It never sees producers, offsets, retry topics or transactions.

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

export interface HandlerContext {
  processor: string;
  /** Logger bound to processor/topic/partition/offset; personal data is redacted. */
  log: { info(obj: object, msg?: string): void; warn(obj: object, msg?: string): void };
}

export type Handler<V = unknown> = (
  record: InputRecord<V>,
  ctx: HandlerContext,
) => Promise<readonly OutputRecord[]> | readonly OutputRecord[];

export interface ProcessorDefinition<V = unknown> {
  spec: ProcessorSpec;
  handler: Handler<V>;
  /** Avro schema (parsed .avsc) of every output topic, registered under `<topic>-value` at start. */
  outputSchemas: Readonly<Record<string, object>>;
}

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
