// The topic graph as data. A processor's name is its consumer group id, the prefix of its
// transactional ids, and the prefix of its retry and dead-letter topics: one name, used everywhere.

export const CleanupPolicy = { DELETE: 'delete', COMPACT: 'compact' } as const;
export type CleanupPolicy = (typeof CleanupPolicy)[keyof typeof CleanupPolicy];

export interface TopicSpec {
  name: string;
  partitions: number;
  cleanupPolicy: CleanupPolicy;
  /** -1 = keep forever. */
  retentionMs: number;
  /** Avro schema of the record value: a file name under schemas/ without `.avsc` (e.g. 'sample-event'). */
  valueSchema: string;
  /** Produced outside regflow (another system, a connector, an operator): needs no producer in the graph. */
  external?: boolean;
  description: string;
}

export interface RetryPolicy {
  /** Attempts per delivery, in place, with exponential backoff and jitter (the spec's "3 times"). */
  attempts: number;
  initialDelayMs: number;
  maxDelayMs: number;
  /** Fixed delay of each retry tier: `<processor>.retry-1` waits tierDelaysMs[0], and so on. Empty: straight to the DLT. */
  tierDelaysMs: readonly number[];
}

export interface ProcessorSpec {
  /** Consumer group id; kebab-case. */
  name: string;
  description: string;
  inputs: readonly string[];
  outputs: readonly string[];
  /**
   * Inputs it also writes, on purpose: its own continuation records (the selection planner's pages
   * of a run), each handled once, never answered by another. Any other input among the outputs is
   * a loop and refused.
   */
  continuations?: readonly string[];
  retry: RetryPolicy;
  /**
   * Its effects outside Kafka (store, table, bucket, incident), each idempotent: for operators (the
   * README's processor table). `[]`: Kafka only. Absent: not documented yet.
   */
  effects?: readonly string[];
}

/** Something that puts records into Kafka from outside (connectors/): no consumer group, no retry topics. */
export interface ConnectorSpec {
  /** kebab-case; with the table it names the connector's transactional id. */
  name: string;
  description: string;
  /** Where its records come from, for people (e.g. "DynamoDB Streams of demand-table"). */
  source: string;
  outputs: readonly string[];
}

export interface Topology {
  topics: readonly TopicSpec[];
  processors: readonly ProcessorSpec[];
  /** Connectors writing topics of the graph; their outputs count as produced. */
  connectors?: readonly ConnectorSpec[];
}

export const retryTopicName = (processor: string, tier: number) => `${processor}.retry-${tier}`;
export const deadLetterTopicName = (processor: string) => `${processor}.dlt`;
