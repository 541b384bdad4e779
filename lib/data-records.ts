import type { DataRecord as DataRecordEnvelope } from '../schemas/types.generated.ts';

// Records for the `data.records` topic (analytics): one small interface, so the campaign outbox relay
// and the entry replicator publish through it without knowing the wire format. On the wire each is
// the `data-record` Avro envelope (schemas/data-record.avsc: `data` as JSON text, `occurredAt` in
// epoch millis) that analytics-router reads. `sourceRecordId` is the dedup id: the same change
// always carries the same id, so a consumer (or an idempotent sink) sees a republished record as the same one.

export const DATA_RECORD_TYPES = [
  'CAMPAIGN',
  'MARKET',
  'EVENT_MAPPING',
  'REGISTRATION',
  'REGISTERED_MARKET',
] as const;
export type DataRecordType = (typeof DATA_RECORD_TYPES)[number];

export interface DataRecord {
  type: DataRecordType;
  data: Record<string, unknown>;
  /** ISO 8601 time of the change. */
  occurredAt: string;
  /** Who produced it, e.g. `campaign-service`. */
  source: string;
  /** Stable id of the change this record describes (dedup id). */
  sourceRecordId: string;
}

export interface DataRecordsPublisher {
  /** Publishes the records in order; resolves once all are acknowledged. Retriable errors throw. */
  publish(records: readonly DataRecord[]): Promise<void>;
}

export interface ProducedMessage {
  key: string;
  value: Buffer | string;
  headers: Record<string, string>;
}

/** The Avro envelope of a record (what `data.records` carries). */
export function toEnvelope(r: DataRecord): DataRecordEnvelope {
  return {
    type: r.type,
    data: JSON.stringify(r.data),
    occurredAt: Date.parse(r.occurredAt),
    source: r.source,
    sourceRecordId: r.sourceRecordId,
  };
}

export const DATA_RECORDS_TOPIC = 'data.records';

/**
 * Publishes messages keyed by `sourceRecordId` through `send` (e.g. an idempotent kafkajs
 * producer), each value made by `encode` (the registry's Avro encoding of the envelope in the
 * pipeline; JSON of the envelope when none is given).
 */
export class ProducerDataRecordsPublisher implements DataRecordsPublisher {
  constructor(
    private readonly send: (messages: ProducedMessage[]) => Promise<void>,
    private readonly encode: (envelope: DataRecordEnvelope) => Promise<Buffer | string> = async (e) =>
      JSON.stringify(e),
  ) {}

  async publish(records: readonly DataRecord[]): Promise<void> {
    if (records.length === 0) return;
    const messages: ProducedMessage[] = [];
    for (const r of records) {
      messages.push({
        key: r.sourceRecordId,
        value: await this.encode(toEnvelope(r)),
        headers: { 'regflow-record-type': r.type, 'regflow-dedup-id': r.sourceRecordId },
      });
    }
    await this.send(messages);
  }
}
