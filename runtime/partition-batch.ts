import { performance } from 'node:perf_hooks';
import type { FailedRecord } from './failures.ts';
import { dueAt } from './failures.ts';
import { readHeaders } from './headers.ts';
import type { EncodedMessage, RecordOutcome } from './process-record.ts';

// One fetched batch of one partition: skip what the group already committed, cut the rest into
// chunks, take each chunk through the handler, and commit its outputs, retry / dead-letter
// records and the consumed offset in one transaction. No Kafka client here: the runner hands in
// the partition's I/O, so the rules are unit-tested with a fake.

export interface MessageView {
  offset: string;
  timestamp: string;
  key: Buffer | null;
  value: Buffer | null;
  headers?: Record<string, unknown>;
}

export interface BatchView {
  topic: string;
  partition: number;
  /** Where the fetch started: at or before the first record (markers and aborted records are invisible). */
  fetchedOffset: string;
  /** The batch's last offset, past trailing transaction markers. */
  lastOffset: string;
  messages: readonly MessageView[];
}

export interface PartitionIO {
  /**
   * The partition's producer, opened and fenced when needed; `next` = the group's committed offset
   * (null: none). Null when the partition is not in this member's current assignment: the batch
   * is left alone (opening a producer would fence the true owner).
   */
  acquire(): Promise<{ next: bigint | null } | null>;
  /** One transaction: the messages and the consumed offset. Throws when it aborted or was fenced. */
  commit(messages: EncodedMessage[], nextOffset: bigint): Promise<void>;
  /** Forgets the partition's producer (after a failed commit): the next batch fences afresh. */
  drop(): Promise<void>;
  seek(offset: bigint): void;
  resolveOffset(offset: string): void;
  heartbeat(): Promise<void>;
  /** False once the consumer stops or the partition was seeked: handle nothing more. */
  active(): boolean;
  /** A retry tier's next record is not due yet: fetch nothing from the partition until then. */
  pauseUntil(epochMs: number): void;
}

export interface PartitionTelemetry {
  failed(outcome: Extract<RecordOutcome, { ok: false }>, record: FailedRecord): void;
  committed(info: { records: number; messages: EncodedMessage[]; seconds: number }): void;
  aborted(err: unknown): void;
}

/**
 * Most bytes of encoded outputs one transaction collects: past them, the chunk commits what it has
 * handled and the rest of it goes in the next transaction. Without it, a handler that answers each
 * record with many outputs (the selection planner's pages of losers, ~0.6 MB each, written
 * together) would hold a whole run's results in memory and in one transaction.
 */
export const MAX_CHUNK_OUTPUT_BYTES = 4 * 1024 * 1024;

const bytesOf = (m: EncodedMessage) =>
  (m.value?.length ?? 0) + (typeof m.key === 'string' ? Buffer.byteLength(m.key) : (m.key?.length ?? 0));

export interface PartitionWork {
  /** 0 for the processor's own inputs, N for `<processor>.retry-N`. */
  tier: number;
  /** Most records in one transaction. */
  chunkSize: number;
  /** Most bytes of outputs in one transaction (MAX_CHUNK_OUTPUT_BYTES when absent); at least one unit always goes. */
  maxChunkBytes?: number;
  /** Records handed to `process` at once: the batch handler's size, 1 for a record handler. */
  unitSize: number;
  process(records: FailedRecord[]): Promise<RecordOutcome[]>;
  telemetry: PartitionTelemetry;
  now?: () => number;
}

/** How often, at least, a long batch asks kafkajs to heartbeat (kafkajs throttles it to its interval). */
const HEARTBEAT_EVERY_MS = 1_000;

const maxOffset = (a: string, b: string) => (BigInt(a) >= BigInt(b) ? a : b);

export async function handlePartitionBatch(
  batch: BatchView,
  io: PartitionIO,
  work: PartitionWork,
): Promise<void> {
  const now = work.now ?? Date.now;
  const acquired = await io.acquire();
  if (acquired === null) return;
  let { next } = acquired;
  let messages = batch.messages;
  if (messages.length === 0) return;
  if (next !== null) {
    // Compare where the fetch started, not the first record: transaction markers and aborted
    // records between the committed offset and the first record are invisible but legitimate.
    if (BigInt(batch.fetchedOffset) > next) {
      // The fetch position ran ahead of what is committed (an aborted transaction): go back.
      io.seek(next);
      return;
    }
    const from = next;
    messages = messages.filter((m) => BigInt(m.offset) >= from);
    if (messages.length === 0) {
      io.resolveOffset(batch.lastOffset);
      return;
    }
  }

  const maxBytes = work.maxChunkBytes ?? MAX_CHUNK_OUTPUT_BYTES;
  let lastBeat = 0;
  let start = 0;
  while (start < messages.length) {
    if (!io.active()) return;
    const t0 = performance.now();
    const chunk = messages.slice(start, start + work.chunkSize).map((m) => toRecord(batch, m));
    let due = chunk.length;
    let waitUntil = 0;
    if (work.tier > 0) {
      // A tier's records all wait the same fixed delay, so they fall due in order.
      const notDue = chunk.findIndex((r) => dueAt(r.headers) > now());
      if (notDue >= 0) {
        due = notDue;
        waitUntil = dueAt(chunk[notDue]!.headers);
      }
    }

    const out: EncodedMessage[] = [];
    let bytes = 0;
    let handled = 0;
    while (handled < due && bytes < maxBytes && io.active()) {
      const records = chunk.slice(handled, Math.min(due, handled + work.unitSize));
      const outcomes = await work.process(records);
      for (let i = 0; i < outcomes.length; i++) {
        const outcome = outcomes[i]!;
        if (outcome.ok) {
          for (const m of outcome.messages) {
            out.push(m);
            bytes += bytesOf(m);
          }
          continue;
        }
        work.telemetry.failed(outcome, records[i]!);
        const { failure } = outcome;
        out.push({ topic: failure.topic, key: failure.key, value: failure.value, headers: failure.headers });
        bytes += bytesOf(out[out.length - 1]!);
      }
      handled += records.length;
      // kafkajs sends heartbeats only when asked: ask at least every second, or slow handlers
      // and retries would outlast the session timeout.
      if (now() - lastBeat >= HEARTBEAT_EVERY_MS) {
        await io.heartbeat();
        lastBeat = now();
      }
    }

    if (handled > 0) {
      const last = chunk[handled - 1]!;
      // At the end of the batch, step over trailing markers / aborted records too, so the
      // committed offset is where the next fetch starts.
      const atBatchEnd = last.offset === messages[messages.length - 1]!.offset;
      const resolved = atBatchEnd ? maxOffset(last.offset, batch.lastOffset) : last.offset;
      const nextOffset = BigInt(resolved) + 1n;
      try {
        await io.commit(out, nextOffset);
      } catch (err) {
        work.telemetry.aborted(err);
        const restartAt = next ?? BigInt(chunk[0]!.offset);
        await io.drop();
        io.seek(restartAt);
        return;
      }
      next = nextOffset;
      io.resolveOffset(resolved);
      work.telemetry.committed({ records: handled, messages: out, seconds: (performance.now() - t0) / 1000 });
    }
    // Cut short by its outputs' size: the rest of the chunk goes in the next transaction.
    if (handled > 0 && handled < due && bytes >= maxBytes) {
      start += handled;
      continue;
    }
    if (waitUntil > 0) {
      io.pauseUntil(waitUntil);
      return;
    }
    if (handled === 0) return;
    start += chunk.length;
  }
}

function toRecord(batch: BatchView, m: MessageView): FailedRecord {
  return {
    topic: batch.topic,
    partition: batch.partition,
    offset: m.offset,
    timestamp: m.timestamp,
    key: m.key,
    value: m.value,
    headers: readHeaders(m.headers),
  };
}
