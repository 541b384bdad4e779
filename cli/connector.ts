import type { Command } from 'commander';
import { type Config, loadConfig } from '../config/index.ts';
import {
  DEFAULT_CONNECTOR_NAME,
  DEFAULT_IDLE_REFRESH_MS,
  DEFAULT_TOPICS,
  runConnector,
} from '../connectors/dynamodb-streams/connector.ts';
import { connectorStatus, resetConnector } from '../connectors/dynamodb-streams/operator.ts';
import { STREAM_RETENTION_MS } from '../connectors/dynamodb-streams/shards.ts';
import { runSnapshot } from '../connectors/dynamodb-streams/snapshot.ts';
import { UsageError } from '../lib/errors.ts';
import { formatTable } from '../lib/format.ts';
import { createLogger } from '../lib/logger.ts';

// `regflow connector run|snapshot|status|reset`: the DynamoDB Streams → Kafka connector.

interface Common {
  /** Absent: the configured table (REGFLOW_DEMAND_TABLE), the one the API writes. */
  table?: string;
  name: string;
  changesTopic: string;
  checkpointsTopic: string;
  retentionMs: string;
}

const common = (cmd: Command) =>
  cmd
    .option('--table <table>', 'DynamoDB table whose stream is read (default: REGFLOW_DEMAND_TABLE)')
    .option(
      '--name <name>',
      'connector name (with the table: transactional id, lease, checkpoints)',
      DEFAULT_CONNECTOR_NAME,
    )
    .option('--changes-topic <topic>', 'topic of the change records', DEFAULT_TOPICS.changes)
    .option('--checkpoints-topic <topic>', 'compacted topic of the checkpoints', DEFAULT_TOPICS.checkpoints)
    .option(
      '--retention-ms <ms>',
      "the stream's record retention: DynamoDB keeps 24 h (shorter only to rehearse the gap path)",
      String(STREAM_RETENTION_MS),
    );

/** What a connector command works on: the flags, the table from the config unless --table names one. */
export const targetOf = (o: Common, config: Readonly<Config>) => ({
  table: o.table ?? config.dynamodb.demandTable,
  name: o.name,
  topics: { changes: o.changesTopic, checkpoints: o.checkpointsTopic },
  retentionMs: positive('--retention-ms', o.retentionMs),
});

function positive(option: string, raw: string): number {
  if (!/^\d+$/.test(raw) || Number(raw) < 1)
    throw new UsageError(`${option} must be a positive integer (got "${raw}")`);
  return Number(raw);
}

export function registerConnector(program: Command): void {
  const connector = program
    .command('connector')
    .description('the DynamoDB Streams → Kafka connector (exactly once into demand.changes)');

  common(connector.command('run'))
    .description('run the connector until SIGTERM / SIGINT (a second instance waits as standby)')
    .option(
      '--checkpoint-refresh-ms <ms>',
      'rewrite every checkpoint this often when nothing else was committed (liveness for the retention check)',
      '300000',
    )
    .option(
      '--idle-refresh-ms <ms>',
      'move the time of a shard read to its end on this often (`regflow select` waits for one after the close)',
      String(DEFAULT_IDLE_REFRESH_MS),
    )
    .action(async (o: Common & { checkpointRefreshMs: string; idleRefreshMs: string }) => {
      const config = loadConfig();
      const logger = createLogger(config.logLevel);
      const running = await runConnector({
        config,
        logger,
        ...targetOf(o, config),
        checkpointRefreshMs: positive('--checkpoint-refresh-ms', o.checkpointRefreshMs),
        idleRefreshMs: positive('--idle-refresh-ms', o.idleRefreshMs),
      });
      let signals = 0;
      const shutdown = (signal: NodeJS.Signals) => {
        if (++signals > 1) {
          logger.warn({ signal }, 'second signal: exiting without a graceful stop');
          process.exit(130);
        }
        logger.info({ signal }, 'stopping: finishing the transaction in hand, then releasing the lease');
        void running.stop();
      };
      process.on('SIGTERM', shutdown);
      process.on('SIGINT', shutdown);
      await running.done;
    });

  common(connector.command('snapshot'))
    .description("emit the table's existing items as synthetic INSERTs, exactly once per snapshot id")
    .option('--snapshot-id <id>', 'the same id resumes or does nothing; a new id snapshots again', 'initial')
    .option('--page-size <n>', 'items per Scan page (one transaction each)', '100')
    .action(async (o: Common & { snapshotId: string; pageSize: string }) => {
      const config = loadConfig();
      const target = targetOf(o, config);
      const report = await runSnapshot({
        config,
        logger: createLogger(config.logLevel),
        ...target,
        snapshotId: o.snapshotId,
        pageSize: positive('--page-size', o.pageSize),
      });
      console.log(
        report.alreadyComplete
          ? `snapshot ${report.snapshotId} of ${target.table} was already complete (${report.itemsEmitted} items); nothing emitted`
          : `snapshot ${report.snapshotId} of ${target.table}: ${report.emittedNow} items emitted in ${report.pages} pages (${report.itemsEmitted} in all)`,
      );
    });

  common(connector.command('status'))
    .description('checkpoint, state and lag of every shard of the stream; gaps; snapshots')
    .option('--json', 'print JSON')
    .action(async (o: Common & { json?: boolean }) => {
      const config = loadConfig();
      const status = await connectorStatus({ config, ...targetOf(o, config) });
      if (o.json) {
        console.log(JSON.stringify(status, null, 2));
        return;
      }
      console.log(
        `connector ${status.connectorId}   lease: ${status.leaseHolder ?? '(nobody: not running)'}`,
      );
      console.log(`stream    ${status.streamArn ?? '(table has no stream)'}`);
      console.log(
        formatTable(
          ['shard', 'parent', 'state', 'closed', 'last sequence number', 'last record at', 'lag'],
          status.shards.map((s) => [
            s.shardId,
            s.parentShardId ?? '-',
            s.state,
            s.closed ? 'yes' : 'no',
            s.sequenceNumber ?? '-',
            s.lastRecordAt ?? '-',
            s.lagSeconds === null ? '?' : `${s.lagSeconds.toFixed(1)}s`,
          ]),
        ),
      );
      for (const snap of status.snapshots) {
        console.log(
          `snapshot ${snap.snapshotId}: ${snap.finished ? 'complete' : 'in progress'}, ${snap.itemsEmitted} items`,
        );
      }
      for (const gap of status.gaps) console.log(`GAP [${gap.kind}] ${gap.reason}`);
      if (status.gaps.length > 0) {
        console.log('the connector halts on these; see `regflow connector reset --accept-gap`');
        process.exitCode = 2;
      }
    });

  common(connector.command('reset'))
    .description('show the gaps the connector halts on; with --accept-gap, accept them and let it continue')
    .option(
      '--accept-gap',
      'write the checkpoints that continue from what the stream still has (records lost stay lost)',
    )
    .action(async (o: Common & { acceptGap?: boolean }) => {
      const config = loadConfig();
      const report = await resetConnector({
        config,
        ...targetOf(o, config),
        acceptGap: o.acceptGap === true,
      });
      if (report.gaps.length === 0) {
        console.log(`connector ${report.connectorId}: no gap, nothing to reset`);
        return;
      }
      for (const gap of report.gaps) console.log(`GAP [${gap.kind}] ${gap.reason}`);
      for (const w of report.writes) {
        const c = w.checkpoint;
        console.log(
          `  ${w.shardId}: ${c === null ? 'checkpoint deleted' : c.finished ? 'counted as finished' : c.sequenceNumber === null ? 'restart at TRIM_HORIZON' : `continue after ${c.sequenceNumber}`}`,
        );
      }
      if (report.executed)
        console.log(`accepted: ${report.writes.length} checkpoints written; the connector continues`);
      else {
        console.log(
          'nothing written: run again with --accept-gap to accept the loss (consider a snapshot afterwards)',
        );
        process.exitCode = 2;
      }
    });
}
