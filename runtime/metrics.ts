import { Counter, Gauge, Histogram, Registry } from 'prom-client';

// Prometheus metrics of one process. Several processors may share a process (`regflow run a b`),
// so every series carries its processor as a label; label sets stay small otherwise: topic, and
// partition only where an operator needs it (lag).

export function createMetrics(registry: Registry = new Registry()) {
  const counter = (name: string, help: string, labelNames: string[] = []) =>
    new Counter({ name, help, labelNames: [...labelNames, 'processor'], registers: [registry] });
  return {
    registry,
    recordsIn: counter('regflow_records_in_total', 'Records consumed and handled', ['topic']),
    recordsOut: counter('regflow_records_out_total', 'Records produced (outputs)', ['topic']),
    errors: counter('regflow_record_errors_total', 'Records whose handling failed on a delivery', ['kind']),
    retries: counter('regflow_retries_total', 'In-place retries and records sent to a retry tier', ['where']),
    deadLetters: counter('regflow_dead_letters_total', 'Records sent to the dead-letter topic'),
    transactions: counter('regflow_transactions_total', 'Committed transactions'),
    outcomes: counter(
      'regflow_handler_outcomes_total',
      'What handlers did with committed records, by outcome (applied, stale-rejected, skipped, ...)',
      ['outcome'],
    ),
    aborts: counter('regflow_transaction_aborts_total', 'Aborted or fenced transactions'),
    batchSeconds: new Histogram({
      name: 'regflow_batch_duration_seconds',
      help: 'Handling plus commit time of one transaction',
      labelNames: ['processor'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [registry],
    }),
    lag: new Gauge({
      name: 'regflow_consumer_lag',
      help: 'High watermark minus the next offset to consume, per assigned partition',
      labelNames: ['topic', 'partition', 'processor'],
      registers: [registry],
    }),
  };
}

export type Metrics = ReturnType<typeof createMetrics>;

/** One processor's view of the process's metrics: every call carries its label. */
export function processorMetrics(metrics: Metrics, processor: string) {
  const lagSeries = new Set<string>();
  return {
    recordsIn: (topic: string, n: number) => metrics.recordsIn.inc({ topic, processor }, n),
    recordsOut: (topic: string, n: number) => metrics.recordsOut.inc({ topic, processor }, n),
    error: (kind: string) => metrics.errors.inc({ kind, processor }),
    retry: (where: string) => metrics.retries.inc({ where, processor }),
    deadLetter: () => metrics.deadLetters.inc({ processor }),
    transaction: () => metrics.transactions.inc({ processor }),
    outcome: (outcome: string, n: number) => metrics.outcomes.inc({ outcome, processor }, n),
    abort: () => metrics.aborts.inc({ processor }),
    batchSeconds: (seconds: number) => metrics.batchSeconds.observe({ processor }, seconds),
    lag: (topic: string, partition: number, value: number) => {
      lagSeries.add(`${topic}\u0000${partition}`);
      metrics.lag.set({ topic, partition: String(partition), processor }, value);
    },
    /** After a rebalance: forget the lag of partitions this processor may no longer own. */
    resetLag: () => {
      for (const key of lagSeries) {
        const [topic, partition] = key.split('\u0000');
        metrics.lag.remove({ topic: topic!, partition: partition!, processor });
      }
      lagSeries.clear();
    },
  };
}

export type ProcessorMetrics = ReturnType<typeof processorMetrics>;

/**
 * A handler's counts (ctx.metrics) for the chunk in hand, held until its transaction commits:
 * `take` hands them to the counter after the commit, or drops them after an abort.
 */
export class PendingOutcomes {
  private readonly counts = new Map<string, number>();

  count(outcome: string, n = 1): void {
    if (n > 0) this.counts.set(outcome, (this.counts.get(outcome) ?? 0) + n);
  }

  take(): [string, number][] {
    const out = [...this.counts];
    this.counts.clear();
    return out;
  }
}
