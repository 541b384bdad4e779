import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { parseDocument } from 'yaml';
import { CampaignCache } from '../campaigns/cache.ts';
import { CAMPAIGN_STATUSES, type CampaignStatus } from '../campaigns/campaign.ts';
import { parseInviteFile } from '../campaigns/invites.ts';
import { CampaignService } from '../campaigns/service.ts';
import { loadConfig } from '../config/index.ts';
import { createMongo, createRedis } from '../lib/clients.ts';
import { UsageError, ValidationError } from '../lib/errors.ts';
import { createLogger } from '../lib/logger.ts';
import type { ReminderEmailSchedule } from '../notifications/reminder-emails.ts';
import { SelectionStore } from '../selection/store.ts';
import { MongoCampaignStore } from '../stores/campaigns.ts';
import { MongoNotificationStateStore } from '../stores/notification-state.ts';

// `regflow campaign …`: campaign management from files, the same rules as the admin API (both call
// CampaignService). The change and its data.records go into MongoDB together; the outbox relay of
// a running `regflow api` publishes them.

async function withService<T>(fn: (service: CampaignService) => Promise<T>): Promise<T> {
  const config = loadConfig();
  const logger = createLogger(config.logLevel === 'info' ? 'warn' : config.logLevel, { component: 'cli' });
  const mongo = createMongo(config.mongodb);
  const redis = createRedis(config.redis);
  try {
    await mongo.connect();
    const store = new MongoCampaignStore(mongo.db(config.mongodb.database));
    await store.init();
    // Its indexes only when a file sets reminder email dates (one command, one FerretDB round less).
    const state = new MongoNotificationStateStore(mongo.db(config.mongodb.database));
    const reminderEmails = {
      scheduleReminderEmails: async (campaignId: string, dates: readonly Date[]) => {
        await state.init();
        return state.scheduleReminderEmails(campaignId, dates);
      },
      getReminderEmails: (campaignId: string) => state.getReminderEmails(campaignId),
    };
    const cache = new CampaignCache(redis, store, { prefix: config.redis.prefix, logger });
    const seeds = new SelectionStore(mongo.db(config.mongodb.database));
    const seedHashAtClose = async (id: string) => (await seeds.ensureSeed(id)).seedHash;
    return await fn(new CampaignService({ store, cache, logger, seedHashAtClose, reminderEmails }));
  } finally {
    redis.disconnect();
    await mongo.close();
  }
}

/** One line: the pending dates, and what this apply added, cancelled or kept out. */
export function describeReminderEmails(r: ReminderEmailSchedule): string {
  const list = (ds: Date[]) => ds.map((d) => d.toISOString()).join(', ');
  const parts = [`${r.pending.length} pending${r.pending.length ? ` (${list(r.pending)})` : ''}`];
  if (r.added.length) parts.push(`${r.added.length} added`);
  if (r.cancelled.length) parts.push(`${r.cancelled.length} cancelled (${list(r.cancelled)})`);
  if (r.alreadyTriggered.length)
    parts.push(`${r.alreadyTriggered.length} already sent, not re-armed (${list(r.alreadyTriggered)})`);
  return parts.join(', ');
}

/** Reads a campaign file (YAML or JSON); a syntax error names the file and line. */
export async function readCampaignFile(path: string): Promise<unknown> {
  const text = await readFile(path, 'utf8');
  const doc = parseDocument(text, { prettyErrors: true, uniqueKeys: true });
  const error = doc.errors[0];
  if (error) {
    const line = error.linePos?.[0]?.line;
    throw new ValidationError(
      line ? `${path}:${line}` : path,
      error.message.split('\n')[0] ?? 'invalid YAML',
    );
  }
  return doc.toJS();
}

export function registerCampaign(program: Command): void {
  const campaign = program.command('campaign').description('manage presale campaigns');

  campaign
    .command('apply')
    .description('create or update a campaign from a YAML/JSON file (see examples/campaign.yaml)')
    .requiredOption('-f, --file <path>', 'campaign file')
    .action(async (opts: { file: string }) => {
      const definition = await readCampaignFile(opts.file);
      const { outcome, campaign: c, reminderEmails: r } = await withService((s) => s.apply(definition));
      console.log(
        `campaign ${c.id} ${outcome}: status ${c.status}, version ${c.version}, ${c.markets.length} market(s), ${c.inviteCount} invite(s)`,
      );
      if (r) console.log(`campaign ${c.id} reminder emails: ${describeReminderEmails(r)}`);
    });

  campaign
    .command('status')
    .description(
      `change a campaign's status (${CAMPAIGN_STATUSES.join(', ')}); closing records the close time`,
    )
    .argument('<campaignId>')
    .argument('<status>')
    .action(async (id: string, status: string) => {
      const wanted = status.toUpperCase();
      if (!(CAMPAIGN_STATUSES as readonly string[]).includes(wanted))
        throw new UsageError(`status must be one of ${CAMPAIGN_STATUSES.join(', ')} (got ${status})`);
      const { outcome, campaign: c } = await withService((s) => s.setStatus(id, wanted as CampaignStatus));
      console.log(
        `campaign ${c.id} ${outcome}: status ${c.status}${c.closedAt ? `, closed at ${c.closedAt}` : ''}${c.seedHash ? `, selection seed SHA-256 ${c.seedHash}` : ''}`,
      );
    });

  campaign
    .command('show')
    .description('print a campaign as JSON')
    .argument('<campaignId>')
    .action(async (id: string) => {
      const [c, reminderEmails] = await withService((s) => Promise.all([s.get(id), s.reminderEmails(id)]));
      if (!c) throw new ValidationError('campaignId', `no campaign ${id}`);
      console.log(JSON.stringify(reminderEmails ? { ...c, reminderEmails } : c, null, 2));
    });

  campaign
    .command('invites')
    .description('invite lists')
    .command('import')
    .description('add the emails of a file (one per line, or CSV with the email first) to the invite list')
    .argument('<campaignId>')
    .requiredOption('-f, --file <path>', 'invite file')
    .action(async (id: string, opts: { file: string }) => {
      const emails = parseInviteFile(await readFile(opts.file, 'utf8'));
      const { added, total } = await withService((s) => s.importInvites(id, emails));
      console.log(`campaign ${id}: ${added} invite(s) added, ${total} on the list`);
    });
}
