// Header names on retry and dead-letter records. Spring Kafka's names, so operators who know its
// non-blocking retries recognise them; values are UTF-8 strings.

export const Header = {
  ORIGINAL_TOPIC: 'kafka_dlt-original-topic',
  ORIGINAL_PARTITION: 'kafka_dlt-original-partition',
  ORIGINAL_OFFSET: 'kafka_dlt-original-offset',
  ORIGINAL_TIMESTAMP: 'kafka_dlt-original-timestamp',
  ORIGINAL_CONSUMER_GROUP: 'kafka_dlt-original-consumer-group',
  EXCEPTION_FQCN: 'kafka_dlt-exception-fqcn',
  EXCEPTION_MESSAGE: 'kafka_dlt-exception-message',
  EXCEPTION_CODE: 'kafka_dlt-exception-code',
  /** Handler attempts made so far, across in-place retries and retry tiers. */
  ATTEMPTS: 'retry_topic-attempts',
  /** Epoch millis before which a retry-tier record must not be processed. */
  BACKOFF_TIMESTAMP: 'retry_topic-backoff-timestamp',
  /** Set on redriven dead letters: when and from which DLT offset. */
  REDRIVEN_FROM: 'regflow-redriven-from',
} as const;
export type Header = (typeof Header)[keyof typeof Header];

export type Headers = Record<string, string>;

/** kafkajs hands headers as Buffer | string | (Buffer|string)[] | undefined; regflow's are single strings. */
export function readHeaders(raw: Record<string, unknown> | undefined): Headers {
  const out: Headers = {};
  for (const [k, v] of Object.entries(raw ?? {})) {
    const one = Array.isArray(v) ? v[v.length - 1] : v;
    if (one === undefined || one === null) continue;
    out[k] = Buffer.isBuffer(one) ? one.toString('utf8') : String(one);
  }
  return out;
}
