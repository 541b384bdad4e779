import { BatchGetItemCommand } from '@aws-sdk/client-dynamodb';
import { GetObjectCommand } from '@aws-sdk/client-s3';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import { connectorIdOf } from '../connectors/dynamodb-streams/checkpoints.ts';
import { DEFAULT_CONNECTOR_NAME } from '../connectors/dynamodb-streams/connector.ts';
import { describeError } from '../lib/errors.ts';
import { exportKey } from '../notifications/reminder-emails.ts';
import { reminderKey } from '../notifications/reminder-records.ts';
import { createSelectionAdmin, SELECTION_TOPICS } from '../selection/admin.ts';
import { auditDraw } from '../selection/audit.ts';
import { SelectionStore } from '../selection/store.ts';
import { connectorPastClose, REPLICATION_GROUPS, replicationLag } from '../selection/trigger.ts';
import { MongoCampaignStore } from '../stores/campaigns.ts';
import { MongoCodeStore } from '../stores/codes.ts';
import { MongoEntryStore } from '../stores/entries.ts';
import { MongoNotificationStateStore } from '../stores/notification-state.ts';
import { topology } from '../topology/index.ts';
import { registerMany } from './api-client.ts';
import { type DemoContext, until } from './context.ts';
import { campaignIds, codeOf, fanId, isScored, registrationOf, scoreOf } from './fans.ts';
import {
  NOTIFICATION_PROCESSORS,
  notificationComponents,
  readyGroups,
  simSchedulerNames,
} from './pipeline.ts';
import { fmtInt, type StageProgress } from './report.ts';
import { clockSpec, localIso, localTime, realTimeOf, type Timeline } from './timeline.ts';

// Scenario 1 (spec: high-demand event): one market, N registrations through the HTTP API, close,
// replication caught up, a draw of W winners with codes, its audit, then the notification stage
// on a simulated clock: plan-sends, W reminder records, the email export.

const S1 = 'Scenario 1';
export const S1_MARKET = 'lax';

export function scenario1Campaign(id: string, t: Timeline) {
  return {
    id,
    name: 'Scenario 1 – major artist tour, Los Angeles',
    status: 'ACTIVE',
    gate: { inviteOnly: false, idvRequired: false },
    fields: { required: ['email', 'firstName', 'lastName', 'phone'] },
    markets: [
      {
        id: S1_MARKET,
        name: 'Los Angeles – Forum',
        ticketer: 'OTHER',
        presale: { startsAt: localIso(t.presaleAt, t.zone), timeZone: t.zone },
        event: { id: `${id}-event-lax`, url: 'https://tickets.example.com/event/lax' },
        locales: ['en-US', 'es-US'],
        options: { automatedReminders: true },
      },
    ],
  };
}

/** Replication has caught up when `regflow select` would say so and the entry store holds every entry. */
export async function waitForReplication(
  ctx: DemoContext,
  campaignId: string,
  expectedEntries: number,
  closedAt: Date | undefined,
  p: StageProgress,
): Promise<void> {
  const entries = new MongoEntryStore(ctx.db);
  const connectorId = connectorIdOf(DEFAULT_CONNECTOR_NAME, ctx.config.dynamodb.demandTable);
  // The lag comes from Kafka; the entry store (a count is a scan on FerretDB) is counted every
  // 10 s, and on every check once the lag is gone. A count that fails (a FerretDB busy with the
  // replication itself answered one after the client's 60 s socket timeout) is said and retried.
  let stored = 0;
  let countedAt = 0;
  let countError = '';
  await until(
    'replication to catch up',
    async () => {
      const groups = await replicationLag(ctx.admin, topology, REPLICATION_GROUPS);
      const connector = closedAt
        ? await connectorPastClose(
            ctx.kafka,
            ctx.admin,
            ctx.codec,
            SELECTION_TOPICS.checkpoints,
            connectorId,
            closedAt,
          )
        : { ok: true, detail: '' };
      const lag = groups.map((g) => `${g.group} ${fmtInt(g.lag)}`).join(', ');
      const noLag = connector.ok && groups.every((g) => g.state !== 'lagging');
      if (noLag || Date.now() - countedAt >= 10_000) {
        countedAt = Date.now();
        try {
          stored = await entries.countEntries(campaignId);
          countError = '';
        } catch (err) {
          countError = ` (count failed, retrying: ${describeError(err)})`;
        }
      }
      return {
        done: noLag && countError === '' && stored === expectedEntries,
        status: `entry store ${fmtInt(stored)}/${fmtInt(expectedEntries)}${countError} · lag ${lag}${connector.ok ? '' : ` · ${connector.detail}`}`,
      };
    },
    { timeoutMs: 300_000 + expectedEntries * 40, intervalMs: 1_000, progress: p.update },
  );
}

export async function runScenario1(ctx: DemoContext, timeline: Timeline): Promise<void> {
  const { report, api, options } = ctx;
  const campaignId = campaignIds(ctx.runId).scenario1;
  const market = S1_MARKET;
  const campaigns = new MongoCampaignStore(ctx.db);
  const selection = new SelectionStore(ctx.db);
  await selection.init();
  const codes = new MongoCodeStore(ctx.db);
  await codes.init();
  const state = new MongoNotificationStateStore(ctx.db);
  await state.init();

  await report.stage(S1, 'campaign (admin API)', async (p) => {
    await api.applyCampaign(scenario1Campaign(campaignId, timeline));
    p.counts(`${campaignId}, market ${market}, presale ${localTime(timeline.presaleAt, timeline.zone)}`);
  });

  await report.stage(S1, 'registrations (HTTP API)', async (p) => {
    const started = Date.now();
    const outcome = await registerMany(
      api,
      campaignId,
      options.fans,
      (i) => ({ id: fanId(ctx.runId, i), entry: registrationOf(ctx.runId, i, [market]) }),
      {
        concurrency: options.concurrency,
        onProgress: (done) =>
          p.update(
            `${fmtInt(done)}/${fmtInt(options.fans)} registered (${Math.round(done / Math.max(0.001, (Date.now() - started) / 1000))}/s)`,
          ),
      },
    );
    const rate = Math.round(outcome.ok / ((Date.now() - started) / 1000));
    p.counts(
      `${fmtInt(outcome.ok)} eligible (${rate}/s), ${fmtInt(outcome.refused)} refused, ${fmtInt(outcome.failed)} failed`,
    );
    for (const s of outcome.samples) report.line(`    ${s}`);
    report.equal(S1, 'registrations answered 200 eligible', outcome.ok, options.fans);
    ctx.pipeline.sampleMemory();
  });

  const closedAt = await report.stage(S1, 'close', async (p) => {
    await api.setStatus(campaignId, 'CLOSED');
    const campaign = await campaigns.get(campaignId);
    report.equal(S1, 'campaign status after the close', campaign?.status, 'CLOSED');
    p.counts(`CLOSED at ${campaign?.closedAt}`);
    return new Date(campaign?.closedAt ?? Date.now());
  });

  await report.stage(S1, 'replication caught up', async (p) => {
    await waitForReplication(ctx, campaignId, options.fans, closedAt, p);
    ctx.pipeline.sampleMemory();
    const rows = await selection.countRows(campaignId, market);
    report.equal(
      S1,
      'entries in the entry store',
      await new MongoEntryStore(ctx.db).countEntries(campaignId),
      options.fans,
    );
    report.equal(S1, 'scoring rows of the market', rows, options.fans);
    p.counts(`${fmtInt(options.fans)} entries and scoring rows; connector past the close; no lag`);
  });

  const scored = Array.from({ length: options.fans }, (_, i) => i).filter(isScored);
  await report.stage(S1, 'scores (regflow scores import)', async (p) => {
    const scores = scored.map((i) => ({ globalUserId: fanId(ctx.runId, i), score: scoreOf(ctx.runId, i) }));
    const r = await selection.setScores(campaignId, market, scores);
    report.equal(S1, 'fans scored (one in ten)', r.updated, scored.length);
    p.counts(`${fmtInt(r.updated)} fan-club members scored 0-999; the others rank after them`);
  });

  await report.stage(S1, 'codes (regflow codes import)', async (p) => {
    const n = Math.max(options.winners, ctx.config.selection.minReserve);
    const r = await codes.importCodes(
      campaignId,
      market,
      Array.from({ length: n }, (_, i) => codeOf(ctx.runId, i)),
    );
    report.equal(S1, 'codes imported', r.added, n);
    p.counts(`${fmtInt(r.added)} codes in pool ${campaignId}/${market}`);
  });

  await report.stage(S1, 'selection (regflow select)', async (p) => {
    const admin = createSelectionAdmin(ctx.config, ctx.db);
    const { request, seedHash } = await admin.requestSelection(campaignId, market, options.winners, 'demo');
    report.line(`    run ${request.runId}; seed SHA-256 ${seedHash}`);
    const status = await until(
      'the draw, its verdicts and codes',
      async () => {
        const stats = await admin.stats(campaignId);
        const run = stats.find((s) => s.kind === 'RUN' && s.runId === request.runId);
        const verdicts = stats.find((s) => s.kind === 'VERDICTS' && s.runId === request.runId);
        const pool = (await codes.counts(campaignId, market))[0];
        const failed = run?.status === 'FAILED';
        return {
          done:
            failed ||
            (run?.status === 'FINISHED' &&
              verdicts?.status === 'FINISHED' &&
              (pool?.assigned ?? 0) >= (run?.processed ?? 0)),
          status: `run ${run?.status ?? 'requested'}${run?.reason ? ` (${run.reason})` : ''} · verdicts ${fmtInt(verdicts?.winnerVerdicts ?? 0)} true / ${fmtInt(verdicts?.loserVerdicts ?? 0)} false · codes assigned ${fmtInt(pool?.assigned ?? 0)}`,
        };
      },
      { timeoutMs: 300_000 + options.fans * 40, intervalMs: 2_000, progress: p.update },
    );
    const stats = await admin.stats(campaignId);
    const run = stats.find((s) => s.kind === 'RUN' && s.runId === request.runId);
    const verdicts = stats.find((s) => s.kind === 'VERDICTS' && s.runId === request.runId);
    const pool = (await codes.counts(campaignId, market))[0];
    report.equal(S1, 'run status', run?.status, 'FINISHED');
    report.equal(S1, 'run TOTAL', run?.total, options.fans);
    report.equal(S1, 'run PROCESSED (winners)', run?.processed, options.winners);
    report.equal(S1, 'run FAILED', run?.failed, 0);
    report.equal(S1, 'verdict true written', verdicts?.winnerVerdicts, options.winners);
    report.equal(S1, 'verdict false written', verdicts?.loserVerdicts, options.fans - options.winners);
    report.equal(S1, 'codes assigned', pool?.assigned, options.winners);
    ctx.pipeline.sampleMemory();
    p.counts(status);
  });

  await report.stage(S1, 'audit (regflow audit)', async (p) => {
    const audit = await auditDraw({ selection, campaigns }, campaignId, market);
    // The ranking of every row is recomputed; winners' rows hold their run and code (losers'
    // verdicts live in DynamoDB), so the rows checked are the winners, and no other row may have won.
    report.expect(
      S1,
      'the audit recomputes the draw from the revealed seed',
      audit.report.ok && audit.report.rows === options.fans && audit.report.checked === options.winners,
      `${fmtInt(audit.report.rows)} rows ranked, ${fmtInt(audit.report.checked)} winners match, ${audit.report.mismatches.length} mismatches${audit.report.mismatches.length ? `: ${audit.report.mismatches.slice(0, 3).join('; ')}` : ''}`,
    );
    // Selection by score: no fan left out has a higher score than a winner (ties: the seed decides).
    const rows = await selection.allRows(campaignId, market).toArray();
    const scoreOfRow = (r: Record<string, unknown>) =>
      typeof r.score === 'number' ? r.score : Number.NEGATIVE_INFINITY;
    const lowestWinner = rows
      .filter((r) => r.verdict === true)
      .reduce((a, r) => Math.min(a, scoreOfRow(r)), Number.POSITIVE_INFINITY);
    const highestOther = rows
      .filter((r) => r.verdict !== true)
      .reduce((a, r) => Math.max(a, scoreOfRow(r)), Number.NEGATIVE_INFINITY);
    report.expect(
      S1,
      'winners are the top fans by score',
      lowestWinner >= highestOther,
      `lowest winning score ${showScore(lowestWinner)}, highest score left out ${showScore(highestOther)}`,
    );
    p.counts(
      `${fmtInt(audit.report.rows)} rows ranked, ${fmtInt(audit.report.checked)} winners match, seed revealed`,
    );
  });

  await report.stage(S1, 'notifications (simulated clock)', (p) =>
    runNotificationStage(ctx, campaignId, timeline, selection, state, p),
  );

  ctx.whereToLook.push(
    `npx regflow selection stats --campaign ${campaignId}`,
    `npx regflow audit --campaign ${campaignId} --market ${market}`,
    `npx regflow codes status --campaign ${campaignId}`,
    'npx regflow tail notifications.requests; npx regflow tail scheduler.ticks --max 20',
    `npx regflow tail registration --max 5; npx regflow tail selection.stats`,
  );
}

const showScore = (s: number) => (Number.isFinite(s) ? String(s) : 'none (unscored)');

/** The winners of the market (verdict true), with their codes, from the scoring rows. */
async function winnersOf(selection: SelectionStore, campaignId: string, marketId: string) {
  const rows = await selection.allRows(campaignId, marketId).toArray();
  return rows
    .filter((r) => r.verdict === true)
    .map((r) => ({ globalUserId: r.globalUserId as string, code: r.code as string | undefined }));
}

/** Reminder items of these fans in the demand table (BatchGetItem, 100 keys a call). */
async function readReminders(
  ctx: DemoContext,
  campaignId: string,
  marketId: string,
  fans: readonly string[],
): Promise<Array<Record<string, unknown>>> {
  const table = ctx.config.dynamodb.demandTable;
  const found: Array<Record<string, unknown>> = [];
  for (let i = 0; i < fans.length; i += 100) {
    let keys: Array<Record<string, { S: string }>> = fans.slice(i, i + 100).map((f) => {
      const k = reminderKey(f, campaignId, marketId);
      return { PK: { S: k.PK }, SK: { S: k.SK } };
    });
    for (let attempt = 0; keys.length > 0 && attempt < 10; attempt++) {
      const out = await ctx.dynamo.send(
        new BatchGetItemCommand({ RequestItems: { [table]: { Keys: keys, ConsistentRead: true } } }),
      );
      for (const item of out.Responses?.[table] ?? []) found.push(unmarshall(item));
      keys = (out.UnprocessedKeys?.[table]?.Keys ?? []) as typeof keys;
    }
  }
  return found;
}

async function readExport(ctx: DemoContext, key: string): Promise<string | undefined> {
  try {
    const out = await ctx.s3.send(
      new GetObjectCommand({ Bucket: ctx.config.notifications.crmBucket, Key: key }),
    );
    return await out.Body?.transformToString('utf8');
  } catch (err) {
    const name = (err as Error).name;
    if (name === 'NoSuchKey' || name === 'NotFound' || name === 'NoSuchBucket') return undefined;
    throw err;
  }
}

/**
 * The notification stage: the reminder email date set, then the notification processors and a
 * scheduler replica started on one simulated clock a couple of hours before the plan-sends tick,
 * until the market is notified and the export is in the CRM bucket.
 */
async function runNotificationStage(
  ctx: DemoContext,
  campaignId: string,
  t: Timeline,
  selection: SelectionStore,
  state: MongoNotificationStateStore,
  p: StageProgress,
): Promise<void> {
  const { report, options } = ctx;
  const market = S1_MARKET;
  // date.sendReminderEmails: the campaign service's date, kept by the notification state store.
  await state.setReminderEmailDates(campaignId, [t.reminderEmailAt]);
  const winners = await winnersOf(selection, campaignId, market);
  // The processes take a few seconds to start: the simulated start lies a little ahead.
  const anchorMs = Date.now() + 10_000;
  const spec = clockSpec(t, anchorMs);
  const simNow = () => new Date(t.simStart.getTime() + (Date.now() - anchorMs) * t.speed);
  report.line(
    `    clock ${spec} (1 real s = ${fmtInt(t.speed)} simulated s); presale ${localTime(t.presaleAt)}, plan-sends at ${localTime(t.planAt)}, email reminder ${localTime(t.reminderEmailAt)}`,
  );
  const supervisor = ctx.pipeline.start(notificationComponents(spec, ctx.runId));
  const key = exportKey(campaignId, t.reminderEmailAt);
  const deadline = realTimeOf(t, anchorMs, new Date(t.presaleAt.getTime() - 5 * 60_000)) + 30_000;
  try {
    await until(
      'the notification processors to join their groups',
      async () => {
        const ready = await readyGroups(ctx.admin, NOTIFICATION_PROCESSORS);
        return {
          done: ready.size === NOTIFICATION_PROCESSORS.length,
          status: `${ready.size}/3 processors ready`,
        };
      },
      { timeoutMs: 120_000, progress: p.update },
    );
    let reminders = 0;
    let exported: string | undefined;
    await until(
      'the reminders and the email export',
      async () => {
        const m = await state.getMarket(campaignId, market);
        if (m?.notified)
          reminders = (
            await readReminders(
              ctx,
              campaignId,
              market,
              winners.map((w) => w.globalUserId),
            )
          ).length;
        exported ??= await readExport(ctx, key);
        return {
          done: (m?.notified !== undefined && exported !== undefined) || Date.now() > deadline,
          status: `simulated ${localTime(simNow())} · plan ${m?.notification ? localTime(m.notification) : 'not yet'} · reminders ${m?.notified ? fmtInt(reminders) : 'not yet'} · email export ${exported === undefined ? 'not yet' : 'written'}`,
        };
      },
      { timeoutMs: Math.max(60_000, deadline - Date.now() + 60_000), intervalMs: 1_000, progress: p.update },
    );
  } finally {
    ctx.pipeline.sampleMemory();
    await ctx.pipeline.stop(supervisor);
    await ctx.admin.deleteGroups([simSchedulerNames(ctx.runId).stateGroup]).catch(() => {});
  }

  const m = await state.getMarket(campaignId, market);
  report.equal(
    S1,
    'plan-sends: notification time (1 h before the presale)',
    m?.notification ? localTime(m.notification) : 'not planned',
    localTime(t.notificationAt),
  );
  report.expect(
    S1,
    'market notified (date.notified)',
    m?.notified !== undefined && m.recordsWritten === options.winners,
    m?.notified ? `at ${localTime(m.notified)}, ${fmtInt(m.recordsWritten ?? 0)} records` : 'not notified',
  );
  const items = await readReminders(
    ctx,
    campaignId,
    market,
    winners.map((w) => w.globalUserId),
  );
  const codeOfFan = new Map(winners.map((w) => [w.globalUserId, w.code]));
  const withCode = items.filter((it) => {
    const fan = String(it.PK).replace(/^fan:/, '');
    const code = codeOfFan.get(fan);
    return code !== undefined && JSON.stringify(it).includes(code);
  });
  report.equal(S1, 'reminder records in DynamoDB (one per winner)', items.length, options.winners);
  report.equal(S1, "reminder records carrying the winner's code", withCode.length, options.winners);
  const csv = await readExport(ctx, key);
  const rows = csv === undefined ? -1 : csv.trim().split('\n').length - 1;
  report.equal(S1, 'email export rows (one per winner)', rows, options.winners);
  const emails = await state.getReminderEmails(campaignId);
  report.expect(
    S1,
    'email reminder date handled (date.triggeredEmailReminders)',
    emails?.triggeredEmailReminders !== undefined && emails.sendReminderEmails.length === 0,
    emails?.triggeredEmailReminders ? `at ${localTime(emails.triggeredEmailReminders)}` : 'not triggered',
  );
  p.counts(
    `planned ${m?.notification ? localTime(m.notification) : '-'}; ${fmtInt(items.length)} reminders; export ${rows >= 0 ? `${fmtInt(rows)} rows` : 'missing'}`,
  );
  ctx.whereToLook.push(`s3://${ctx.config.notifications.crmBucket}/${key} (the email export)`);
}
