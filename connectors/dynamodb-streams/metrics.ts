import { Counter, Gauge } from 'prom-client';
import { createMetrics, processorMetrics } from '../../runtime/metrics.ts';

// The runtime's metrics (records out, transactions, aborts, transaction latency, one registry
// served by runtime/http.ts) plus what only a stream source has.

export function createConnectorMetrics(connectorId: string) {
  const base = createMetrics();
  const registers = [base.registry];
  return {
    registry: base.registry,
    ...processorMetrics(base, connectorId),
    iteratorExpiries: new Counter({
      name: 'regflow_connector_iterator_expiries_total',
      help: 'Shard iterators that expired and were acquired again from the checkpoint',
      registers,
    }),
    throttles: new Counter({
      name: 'regflow_connector_throttles_total',
      help: 'DynamoDB Streams calls throttled (ProvisionedThroughputExceeded, LimitExceeded) and backed off',
      labelNames: ['call'],
      registers,
    }),
    streamErrors: new Counter({
      name: 'regflow_connector_stream_errors_total',
      help: 'DynamoDB / Streams calls that failed and were retried (server down, HTTP 5xx)',
      labelNames: ['call'],
      registers,
    }),
    gaps: new Counter({
      name: 'regflow_connector_trimmed_data_errors_total',
      help: 'Possible losses detected (trimmed data, shard or parent gone unread, stale checkpoints, stream changed); the connector halts until `regflow connector reset --accept-gap`',
      labelNames: ['kind'],
      registers,
    }),
    halted: new Gauge({
      name: 'regflow_connector_halted',
      help: '1 while the connector refuses to continue past a possible gap',
      registers,
    }),
    leader: new Gauge({
      name: 'regflow_connector_leader',
      help: '1 while this instance holds the lease and writes; 0 on a standby',
      registers,
    }),
    shardLag: new Gauge({
      name: 'regflow_connector_shard_lag_seconds',
      help: 'Now minus the approximate creation time of the last record read from the shard (0 when caught up)',
      labelNames: ['shard'],
      registers,
    }),
    badRecords: new Counter({
      name: 'regflow_connector_bad_records_total',
      help: 'Stream records that could not be turned into a change record (logged with their sequence number)',
      registers,
    }),
  };
}

export type ConnectorMetrics = ReturnType<typeof createConnectorMetrics>;
