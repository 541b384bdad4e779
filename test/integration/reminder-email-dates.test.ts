import { spawn } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DeleteTableCommand } from '@aws-sdk/client-dynamodb';
import { DeleteBucketCommand, DeleteObjectCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { type ApiContext, createApi } from '../../api/app.ts';
import { signToken } from '../../api/auth.ts';
import { REPO_ROOT } from '../../config/index.ts';
import { createDynamoDb, createMongo, createS3 } from '../../lib/clients.ts';
import { SimulatedClock } from '../../lib/clock.ts';
import { createLogger } from '../../lib/logger.ts';
import { writeReminderExport } from '../../processors/export-writer/handler.ts';
import { runReminderEmails, type SchedulerJobsResources } from '../../processors/scheduler-jobs/handler.ts';
import type { SchedulerTick } from '../../schemas/types.generated.ts';
import { S3ExportBucket } from '../../stores/export-bucket.ts';
import { MongoNotificationCampaigns } from '../../stores/notification-campaigns.ts';
import { MongoNotificationStateStore } from '../../stores/notification-state.ts';
import { MongoWinnerQueries } from '../../stores/winners.ts';
import { validDefinition } from '../fixtures/campaigns.ts';
import { config, uniqueName } from '../support.ts';

// date.sendReminderEmails set the way a campaign manager sets it — `regflow campaign apply -f`
// (a child process) and PUT /v1/admin/campaigns/{id} — against FerretDB (a database of the test's
// own), then found by the reminder-emails job (scheduler-jobs) and exported by the export writer
// to an S3 bucket of the test's own. Re-applying the same file after the export does not re-arm
// the exported date.

const database = uniqueName('remdates').replace(/-/g, '_');
const redisPrefix = `${uniqueName('remdates')}:`;
const tableName = uniqueName('remdates-demand');
const bucketName = uniqueName('remdates-crm').toLowerCase();
const env = {
  ...process.env,
  REGFLOW_MONGODB_URL: config.mongodb.url.replace(/\/[^/?]*(\?|$)/, `/${database}$1`),
  REGFLOW_REDIS_PREFIX: redisPrefix,
};
const mongo = createMongo(config.mongodb);
const s3 = createS3(config.s3);
const db = () => mongo.db(database);
let api: ApiContext;

function regflow(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['bin/regflow.js', ...args], { cwd: REPO_ROOT, env });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => {
      stdout += d;
    });
    child.stderr.on('data', (d) => {
      stderr += d;
    });
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

async function campaignFile(definition: object): Promise<string> {
  const path = join(tmpdir(), `${uniqueName('campaign')}.yaml`);
  await writeFile(path, stringify(definition));
  return path;
}

const tickAt = (at: Date): SchedulerTick => ({
  tickId: `reminder-emails@${at.toISOString()}`,
  schedule: 'reminder-emails',
  cron: '*/15 * * * *',
  timezone: 'America/Los_Angeles',
  scheduledAt: at.getTime(),
  firedAt: at.getTime(),
  catchUp: false,
  skippedBefore: 0,
  leaderEpoch: 1,
  firedBy: 'test',
});

const silent = { info: () => {}, warn: () => {} };

function jobResources(clock: SimulatedClock): SchedulerJobsResources & { winners: MongoWinnerQueries } {
  return {
    campaigns: new MongoNotificationCampaigns(db()),
    state: new MongoNotificationStateStore(db()),
    winners: new MongoWinnerQueries(db()),
    clock,
    settings: { sendRatePerHour: 1_000 },
  };
}

beforeAll(async () => {
  await mongo.connect();
  api = await createApi(config, { database, redisPrefix, tableName, logger: createLogger('silent') });
}, 60_000);

afterAll(async () => {
  await api?.close();
  await db()
    .dropDatabase()
    .catch(() => {});
  await mongo.close();
  const dynamo = createDynamoDb(config.dynamodb);
  await dynamo.send(new DeleteTableCommand({ TableName: tableName })).catch(() => {});
  dynamo.destroy();
  const listed = await s3.send(new ListObjectsV2Command({ Bucket: bucketName })).catch(() => undefined);
  for (const o of listed?.Contents ?? [])
    await s3.send(new DeleteObjectCommand({ Bucket: bucketName, Key: o.Key! })).catch(() => {});
  await s3.send(new DeleteBucketCommand({ Bucket: bucketName })).catch(() => {});
  s3.destroy();
});

describe('date.sendReminderEmails from a campaign definition', () => {
  const d1 = '2027-02-28T10:00:00-05:00';
  const d2 = '2027-03-01T08:00:00-05:00';

  it('regflow campaign apply -f stores them where the reminder-emails job finds them; the export is not re-armed by the same file', async () => {
    const id = uniqueName('mailtour');
    const file = await campaignFile({
      ...validDefinition(),
      id,
      gate: { inviteOnly: false, idvRequired: false },
      date: { sendReminderEmails: [d2, d1] },
    });
    const applied = await regflow('campaign', 'apply', '-f', file);
    expect(applied.stderr).toBe('');
    expect(applied.code).toBe(0);
    expect(applied.stdout).toContain(`campaign ${id} created`);
    expect(applied.stdout).toContain(
      `campaign ${id} reminder emails: 2 pending (2027-02-28T15:00:00.000Z, 2027-03-01T13:00:00.000Z), 2 added`,
    );

    // before d1 nothing is due; at 15:05 UTC on d1's day the job asks for d1's export
    const clock = new SimulatedClock(new Date('2027-02-28T14:45:00Z'));
    const resources = jobResources(clock);
    const ctx = { resources, log: silent };
    expect(await runReminderEmails(tickAt(clock.now()), ctx, 'exports')).toEqual([]);
    clock.set(new Date('2027-02-28T15:00:00Z'));
    const [request, ...more] = await runReminderEmails(tickAt(clock.now()), ctx, 'exports');
    expect(more).toEqual([]);
    expect(request).toMatchObject({
      key: id,
      value: { exportId: `${id}@2027-02-28T15:00:00.000Z`, campaignId: id, dueAt: Date.parse(d1) },
    });

    // the export writer handles it: the file in the bucket, d1 leaves the pending dates
    const exported = await writeReminderExport(
      request!.value,
      { ...resources, bucket: new S3ExportBucket(s3, bucketName) },
      silent,
    );
    expect(exported).toMatchObject({ status: 'EXPORTED', uploaded: true });
    const after = await resources.state.getReminderEmails(id);
    expect(after?.sendReminderEmails).toEqual([new Date(d2)]);
    expect(after?.triggered.map((t) => t.dueAt)).toEqual([new Date(d1)]);

    // the same file again: d1 stays exported, not re-armed; nothing is due at the same instant
    const reapplied = await regflow('campaign', 'apply', '-f', file);
    expect(reapplied.code).toBe(0);
    expect(reapplied.stdout).toContain(`campaign ${id} unchanged`);
    expect(reapplied.stdout).toContain(
      `reminder emails: 1 pending (2027-03-01T13:00:00.000Z), 1 already sent, not re-armed (2027-02-28T15:00:00.000Z)`,
    );
    expect((await resources.state.getReminderEmails(id))?.sendReminderEmails).toEqual([new Date(d2)]);
    const shown = JSON.parse((await regflow('campaign', 'show', id)).stdout);
    expect(shown.reminderEmails).toMatchObject({
      sendReminderEmails: ['2027-03-01T13:00:00.000Z'],
      triggered: [{ dueAt: '2027-02-28T15:00:00.000Z' }],
    });
    clock.set(new Date('2027-02-28T15:15:00Z'));
    expect(await runReminderEmails(tickAt(clock.now()), ctx, 'exports')).toEqual([]);
    // d2 comes due in its turn
    clock.set(new Date('2027-03-01T13:00:00Z'));
    expect(
      (await runReminderEmails(tickAt(clock.now()), ctx, 'exports')).map((r) => r.value.exportId),
    ).toEqual([`${id}@2027-03-01T13:00:00.000Z`]);
  }, 120_000);

  it('a bad date in the file is refused naming the field; nothing is stored', async () => {
    const id = uniqueName('badtour');
    const file = await campaignFile({
      ...validDefinition(),
      id,
      date: { sendReminderEmails: [d1, '2027-02-30T10:00:00-05:00'] },
    });
    const r = await regflow('campaign', 'apply', '-f', file);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/regflow: date\.sendReminderEmails\.1: not a real date-time/);
    expect(await new MongoNotificationStateStore(db()).getReminderEmails(id)).toBeUndefined();
  }, 60_000);

  it('PUT /v1/admin/campaigns/{id} sets them too, answers what it did, and refuses a bad one naming the field', async () => {
    const id = uniqueName('apitour');
    const put = async (dates: unknown) => {
      const res = await api.app.inject({
        method: 'PUT',
        url: `/v1/admin/campaigns/${id}`,
        headers: {
          authorization: `Bearer ${await signToken(config.api.jwtSecret, { sub: 'manager-1', role: 'admin' })}`,
        },
        payload: { ...validDefinition(), id, date: { sendReminderEmails: dates } },
      });
      // biome-ignore lint/suspicious/noExplicitAny: checked field by field
      return { status: res.statusCode, body: res.json() as Record<string, any> };
    };
    const bad = await put([d1, 'soon']);
    expect(bad).toMatchObject({ status: 400, body: { field: 'date.sendReminderEmails.1' } });
    const ok = await put([d1]);
    expect(ok.status).toBe(200);
    expect(ok.body).toMatchObject({
      outcome: 'created',
      reminderEmails: { pending: ['2027-02-28T15:00:00.000Z'], added: ['2027-02-28T15:00:00.000Z'] },
    });
    expect((await put([d1])).body).toMatchObject({
      outcome: 'unchanged',
      reminderEmails: { changed: false, added: [] },
    });
    const clock = new SimulatedClock(new Date('2027-02-28T15:00:00Z'));
    const due = await runReminderEmails(
      tickAt(clock.now()),
      { resources: jobResources(clock), log: silent },
      'exports',
    );
    expect(due.map((r) => r.value.exportId)).toContain(`${id}@2027-02-28T15:00:00.000Z`);
  }, 60_000);
});
