// Records for the `data.records` topic (analytics): one small interface, so the campaign outbox relay
// and (later) the entry replicator publish through it without knowing the wire format. The topic's
// envelope schema is defined elsewhere; until it lands, records are written as JSON through an
// injected producer function. `sourceRecordId` is the dedup id: the same change always carries the
// same id, so a consumer (or an idempotent sink) sees a republished record as the same one.

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
  value: string;
  headers: Record<string, string>;
}

export const DATA_RECORDS_TOPIC = 'data.records';

/** Publishes JSON messages keyed by `sourceRecordId` through `send` (e.g. an idempotent kafkajs producer). */
export class ProducerDataRecordsPublisher implements DataRecordsPublisher {
  constructor(private readonly send: (messages: ProducedMessage[]) => Promise<void>) {}

  async publish(records: readonly DataRecord[]): Promise<void> {
    if (records.length === 0) return;
    await this.send(
      records.map((r) => ({
        key: r.sourceRecordId,
        value: JSON.stringify(r),
        headers: { 'regflow-record-type': r.type, 'regflow-dedup-id': r.sourceRecordId },
      })),
    );
  }
}
