import type { Command } from 'commander';
import type { Admin } from 'kafkajs';
import { loadConfig } from '../config/index.ts';
import { createKafka } from '../lib/clients.ts';
import { InfraError } from '../lib/errors.ts';
import { formatTable } from '../lib/format.ts';
import { type EnsureReport, ensureTopics, listTopicsWithLag, type TopicStatus } from '../topology/admin.ts';
import { allTopics, formatDuration } from '../topology/describe.ts';
import { topology } from '../topology/index.ts';
import { assertValidTopology } from './topology.ts';

export async function withAdmin<T>(fn: (admin: Admin) => Promise<T>, config = loadConfig()): Promise<T> {
  const admin = createKafka(config.kafka).admin();
  await admin.connect();
  try {
    return await fn(admin);
  } finally {
    await admin.disconnect();
  }
}

/** One line per topic: created, ok, or each field that differs from the topology. */
export function formatEnsureReport(report: EnsureReport): string[] {
  const specs = new Map(allTopics(topology).map((t) => [t.name, t]));
  const summary = (name: string) => {
    const s = specs.get(name);
    return s
      ? `${s.partitions} partitions, ${s.cleanupPolicy}, retention ${formatDuration(s.retentionMs)}`
      : '';
  };
  const width = Math.max(0, ...[...report.created, ...report.ok].map((n) => n.length));
  return [
    ...report.created.map((name) => `created  ${name.padEnd(width)}  ${summary(name)}`.trimEnd()),
    ...report.ok.map((name) => `ok       ${name}`),
    ...report.drift.map(
      (d) =>
        `drift    ${d.topic}  ${d.field}: topology says ${d.expected}, broker has ${d.actual} (left unchanged)`,
    ),
  ];
}

export function registerTopics(program: Command): void {
  const topics = program.command('topics').description('the topology’s topics on the broker');

  topics
    .command('create')
    .description(
      'create missing topics (with retry and dead-letter topics); report drift, never alter a topic',
    )
    .action(async () => {
      assertValidTopology();
      const report = await withAdmin((admin) => ensureTopics(admin, allTopics(topology)));
      for (const line of formatEnsureReport(report)) console.log(line);
      if (report.drift.length > 0) {
        const topicCount = new Set(report.drift.map((d) => d.topic)).size;
        throw new InfraError(
          `${topicCount} topic(s) differ from the topology; regflow never alters an existing topic, change it by hand or change the topology`,
        );
      }
    });

  topics
    .command('list')
    .description('each topic: partitions, end offsets, and the lag of every group that reads it')
    .action(async () => {
      const statuses = await withAdmin((admin) => listTopicsWithLag(admin, topology));
      console.log(formatStatuses(statuses));
    });
}

function formatStatuses(statuses: readonly TopicStatus[]): string {
  const rows: string[][] = [];
  for (const s of statuses) {
    if (!s.exists) {
      rows.push([s.spec.name, '-', '-', 'missing: run `regflow topics create`']);
      continue;
    }
    rows.push([
      s.spec.name,
      String(s.partitions),
      String(s.endOffsets),
      s.groups.length === 0 ? 'no readers' : '',
    ]);
    for (const g of s.groups) {
      const perPartition = g.partitions
        .map((p) => `${p.partition}:${p.lag}${p.committed < 0 ? '*' : ''}`)
        .join(' ');
      rows.push([`  ${g.groupId}`, '', '', `lag ${g.lag}  [${perPartition}]`]);
    }
  }
  const legend = statuses.some((s) => s.groups.some((g) => g.partitions.some((p) => p.committed < 0)))
    ? '\n* no committed offset yet: lag counts every retained record'
    : '';
  return formatTable(['topic / group', 'partitions', 'end offsets', 'lag per partition'], rows) + legend;
}
