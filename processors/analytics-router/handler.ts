import { Header, type Headers } from '../../runtime/headers.ts';
import type { Handler } from '../../runtime/types.ts';
import type { DataRecord } from '../../schemas/types.generated.ts';
import { AnalyticsHeader, type DataType, routeDataRecord } from './records.ts';

// analytics-router: the spec's processData + sendData in one step. Each data.records envelope is
// checked (known type, non-empty payload), formatted by its type's formatter, validated against its
// type's schema, and emitted to its type's topic with a deterministic dedup id. A record that fails
// a check is not an error: it is emitted to the rejected topic with the reason in headers, so it is
// never retried and commits in the same transaction as everything else (the spec: "rejected
// without retry, logged for investigation").

export interface AnalyticsTopics {
  /** Each type's output topic. */
  byType: Readonly<Record<DataType, string>>;
  /** Where rejected envelopes go, unchanged, with the reason in headers. */
  rejected: string;
}

export function analyticsRouterHandler(topics: AnalyticsTopics): Handler<DataRecord> {
  return (record, ctx) => {
    const routed = routeDataRecord(record.value);
    if (routed.ok) {
      return [
        {
          topic: topics.byType[routed.type],
          key: routed.key,
          value: routed.value,
          headers: { [AnalyticsHeader.DEDUP_ID]: routed.dedupId },
        },
      ];
    }
    const { reason, field, message } = routed.rejection;
    ctx.log.warn(
      {
        reason,
        field,
        type: record.value.type.slice(0, 80),
        source: record.value.source,
        sourceRecordId: record.value.sourceRecordId,
        rejectMessage: message,
      },
      'data record rejected',
    );
    const headers: Headers = {
      ...record.headers,
      [AnalyticsHeader.REJECT_REASON]: reason,
      [AnalyticsHeader.REJECT_FIELD]: field,
      [AnalyticsHeader.REJECT_MESSAGE]: message,
      [Header.ORIGINAL_TOPIC]: record.headers[Header.ORIGINAL_TOPIC] ?? record.topic,
      [Header.ORIGINAL_PARTITION]: record.headers[Header.ORIGINAL_PARTITION] ?? String(record.partition),
      [Header.ORIGINAL_OFFSET]: record.headers[Header.ORIGINAL_OFFSET] ?? record.offset,
      [Header.ORIGINAL_CONSUMER_GROUP]: ctx.processor,
    };
    return [{ topic: topics.rejected, key: record.key, value: record.value, headers }];
  };
}
