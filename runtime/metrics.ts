import { Counter, Gauge, Histogram, Registry } from 'prom-client';

// Prometheus metrics of one processor process. Label sets stay small: processor, topic, and
// partition only where an operator needs it (lag).

export function createMetrics(processor: string) {
  const registry = new Registry();
  registry.setDefaultLabels({ processor });
  const counter = (name: string, help: string, labelNames: string[] = []) =>
    new Counter({ name, help, labelNames, registers: [registry] });
  return {
    registry,
    recordsIn: counter('regflow_records_in_total', 'Records consumed and handled', ['topic']),
    recordsOut: counter('regflow_records_out_total', 'Records produced (outputs)', ['topic']),
    errors: counter('regflow_record_errors_total', 'Records whose handling failed on a delivery', ['kind']),
    retries: counter('regflow_retries_total', 'In-place retries and records sent to a retry tier', ['where']),
    deadLetters: counter('regflow_dead_letters_total', 'Records sent to the dead-letter topic'),
    transactions: counter('regflow_transactions_total', 'Committed transactions'),
    aborts: counter('regflow_transaction_aborts_total', 'Aborted or fenced transactions'),
    batchSeconds: new Histogram({
      name: 'regflow_batch_duration_seconds',
      help: 'Handling plus commit time of one transaction',
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [registry],
    }),
    lag: new Gauge({
      name: 'regflow_consumer_lag',
      help: 'High watermark minus the next offset to consume, per assigned partition',
      labelNames: ['topic', 'partition'],
      registers: [registry],
    }),
  };
}

export type Metrics = ReturnType<typeof createMetrics>;
