import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { loadConfig } from '../config/index.ts';
import { createMongo } from '../lib/clients.ts';
import { formatTable } from '../lib/format.ts';
import { createSelectionAdmin, type SelectionAdmin } from '../selection/admin.ts';
import { auditDraw } from '../selection/audit.ts';
import { parseScoreFile } from '../selection/scores.ts';
import { SelectionStore } from '../selection/store.ts';
import { MongoCampaignStore } from '../stores/campaigns.ts';
import { MongoCodeStore, parseCodeFile } from '../stores/codes.ts';

// `regflow codes …`, `regflow scores import`, `regflow select`, `regflow selection stats` and
// `regflow audit`: the campaign manager's side of selection (spec Use Case 2).

async function withMongo<T>(
  fn: (stores: {
    codes: MongoCodeStore;
    selection: SelectionStore;
    campaigns: MongoCampaignStore;
  }) => Promise<T>,
) {
  const config = loadConfig();
  const client = createMongo(config.mongodb);
  try {
    await client.connect();
    const db = client.db(config.mongodb.database);
    const codes = new MongoCodeStore(db);
    await codes.init();
    const selection = new SelectionStore(db);
    await selection.init();
    return await fn({ codes, selection, campaigns: new MongoCampaignStore(db) });
  } finally {
    await client.close();
  }
}

async function withSelectionAdmin<T>(fn: (admin: SelectionAdmin) => Promise<T>): Promise<T> {
  const config = loadConfig();
  const client = createMongo(config.mongodb);
  try {
    await client.connect();
    return await fn(createSelectionAdmin(config, client.db(config.mongodb.database)));
  } finally {
    await client.close();
  }
}

export function registerSelection(program: Command): void {
  const codes = program.command('codes').description('access code pools (the Code Service)');
  codes
    .command('import')
    .description(
      'import a pool: one code per line or a CSV with a `code` header; a bad file is refused whole, by line',
    )
    .requiredOption('--campaign <id>', 'campaign id')
    .requiredOption('--market <id>', 'market id')
    .requiredOption('-f, --file <path>', 'codes file')
    .action(async (o: { campaign: string; market: string; file: string }) => {
      const parsed = parseCodeFile(await readFile(o.file, 'utf8'));
      const { added } = await withMongo(({ codes }) => codes.importCodes(o.campaign, o.market, parsed));
      console.log(`${o.campaign}/${o.market}: ${parsed.length} codes in the file, ${added} new`);
    });
  codes
    .command('status')
    .description('available / reserved / assigned per pool')
    .requiredOption('--campaign <id>', 'campaign id')
    .option('--market <id>', 'one market')
    .action(async (o: { campaign: string; market?: string }) => {
      const pools = await withMongo(({ codes }) => codes.counts(o.campaign, o.market));
      console.log(
        formatTable(
          ['market', 'available', 'reserved', 'assigned', 'total'],
          pools.map((p) => [
            p.marketId,
            String(p.available),
            String(p.reserved),
            String(p.assigned),
            String(p.total),
          ]),
        ),
      );
    });

  program
    .command('scores')
    .description('fan scores for selection')
    .command('import')
    .description(
      'load scores (CSV globalUserId,score) into the scoring rows of a market; a bad file is refused whole',
    )
    .requiredOption('--campaign <id>', 'campaign id')
    .requiredOption('--market <id>', 'market id')
    .requiredOption('-f, --file <path>', 'scores file')
    .action(async (o: { campaign: string; market: string; file: string }) => {
      const scores = parseScoreFile(await readFile(o.file, 'utf8'));
      const r = await withMongo(({ selection }) => selection.setScores(o.campaign, o.market, scores));
      console.log(
        `${o.campaign}/${o.market}: ${r.updated} rows scored, ${r.missing} fans without a scoring row (not eligible or not replicated)`,
      );
    });

  program
    .command('select')
    .description('draw winners in a market (refused unless the campaign is CLOSED and replication caught up)')
    .requiredOption('--campaign <id>', 'campaign id')
    .requiredOption('--market <id>', 'market id')
    .requiredOption('--winners <n>', 'winners to select in this run', (v) => Number(v))
    .action(async (o: { campaign: string; market: string; winners: number }) => {
      const { request, notes, seedHash } = await withSelectionAdmin((admin) =>
        admin.requestSelection(o.campaign, o.market, o.winners, 'cli'),
      );
      for (const n of notes) console.log(`note: ${n}`);
      console.log(`seed SHA-256 of ${o.campaign}: ${seedHash}`);
      console.log(
        `selection requested: run ${request.runId} (${o.winners} winners in ${o.campaign}/${o.market}); follow with: regflow selection stats --campaign ${o.campaign}`,
      );
    });

  program
    .command('selection')
    .description('selection runs')
    .command('stats')
    .description(
      'the stats of every run (selection.stats): status, TOTAL, PROCESSED, FAILED, verdicts written',
    )
    .option('--campaign <id>', 'one campaign')
    .action(async (o: { campaign?: string }) => {
      const stats = await withSelectionAdmin((admin) => admin.stats(o.campaign));
      const runs = stats.filter((s) => s.kind === 'RUN');
      const verdicts = new Map(
        stats
          .filter((s) => s.kind === 'VERDICTS')
          .map((s) => [`${s.campaignId}|${s.marketId}|${s.runId}`, s]),
      );
      console.log(
        formatTable(
          [
            'campaign',
            'market',
            'run',
            'status',
            'TOTAL',
            'PROCESSED',
            'FAILED',
            'verdicts true/false',
            'seed',
            'reason',
          ],
          runs.map((s) => {
            const v = verdicts.get(`${s.campaignId}|${s.marketId}|${s.runId}`);
            return [
              s.campaignId,
              s.marketId,
              s.runId,
              s.status,
              String(s.total),
              String(s.processed),
              String(s.failed),
              v ? `${v.winnerVerdicts}/${v.loserVerdicts} (${v.status})` : '-',
              s.seed ?? (s.seedHash ? `hash ${s.seedHash.slice(0, 16)}…` : '-'),
              s.reason ?? '',
            ];
          }),
        ),
      );
    });

  program
    .command('audit')
    .description(
      'recompute the ranking of a market from its rows and the revealed seed; exit 1 when a verdict does not match',
    )
    .requiredOption('--campaign <id>', 'campaign id')
    .requiredOption('--market <id>', 'market id')
    .action(async (o: { campaign: string; market: string }) => {
      const { seed, seedHash, runs, report } = await withMongo((stores) =>
        auditDraw(stores, o.campaign, o.market),
      );
      console.log(
        `seed ${seed} (SHA-256 ${seedHash}); runs in order: ${runs.map((r) => `${r.runId}×${r.winners}`).join(', ') || 'none'}`,
      );
      console.log(
        `${report.rows} rows, ${report.checked} verdicts checked: ${report.ok ? 'every verdict matches' : `${report.mismatches.length} mismatch(es)`}`,
      );
      for (const m of report.mismatches) console.log(`  ${m}`);
      if (!report.ok) process.exitCode = 1;
    });
}
