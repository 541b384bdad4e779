import type { Collection, Db } from 'mongodb';
import { RetriableError, ValidationError } from '../lib/errors.ts';
import { type ReminderEmailSchedule, scheduleReminderEmails } from '../notifications/reminder-emails.ts';
import { ensureIndexes, isDuplicateKey } from './mongo.ts';

// The notification dates of the spec's Campaign service (Use Case 4), beside the campaigns:
//   per market     date.notification (planned send start), date.notified (reminders written)
//   per campaign   date.sendReminderEmails (instants), date.triggeredEmailReminders, and the
//                  history of the dates already exported (so a re-applied campaign file never
//                  re-arms one: notifications/reminder-emails.ts scheduleReminderEmails)
// They live in their own collections, not in the campaign document: the campaign store replaces a
// campaign's definition on every change (compare-and-set on `version`), which would carry stale
// copies of these dates back. Each write here is a single-document conditional write, so a
// redelivered or replayed tick or request changes nothing (FerretDB has no transactions; none needed).

export interface MarketNotificationState {
  campaignId: string;
  marketId: string;
  /** date.notification */
  notification?: Date;
  /** date.notified */
  notified?: Date;
  /** Reminder records written when it was notified. */
  recordsWritten?: number;
}

export interface ReminderEmailState {
  campaignId: string;
  /** date.sendReminderEmails */
  sendReminderEmails: Date[];
  /** date.triggeredEmailReminders */
  triggeredEmailReminders?: Date;
  /** Every date already exported, with when (oldest first). */
  triggered: TriggeredReminderEmail[];
}

export interface TriggeredReminderEmail {
  /** The date.sendReminderEmails entry that was exported. */
  dueAt: Date;
  /** When (date.triggeredEmailReminders at the time). */
  triggeredAt: Date;
}

export interface NotificationStateStore {
  init(): Promise<void>;
  /** The states of these campaigns' markets (markets never planned have none). */
  marketsOf(campaignIds: readonly string[]): Promise<MarketNotificationState[]>;
  /** Markets with date.notification set. */
  scheduledMarkets(): Promise<MarketNotificationState[]>;
  getMarket(campaignId: string, marketId: string): Promise<MarketNotificationState | undefined>;
  /** Sets date.notification if it is not set; false when it already was (a redelivered plan). */
  planNotification(campaignId: string, marketId: string, at: Date): Promise<boolean>;
  /** Unsets date.notification if it still is `expected`; false otherwise. */
  clearNotification(campaignId: string, marketId: string, expected: Date): Promise<boolean>;
  /** Sets date.notified if it is not set; false when it already was. */
  markNotified(campaignId: string, marketId: string, at: Date, recordsWritten: number): Promise<boolean>;
  /** Campaigns with a date.sendReminderEmails at or before `now`. */
  reminderEmailsDue(now: Date): Promise<ReminderEmailState[]>;
  getReminderEmails(campaignId: string): Promise<ReminderEmailState | undefined>;
  /** Sets a campaign's reminder email dates as they are (tests). */
  setReminderEmailDates(campaignId: string, dates: readonly Date[]): Promise<void>;
  /**
   * A campaign definition's date.sendReminderEmails (campaign apply): the pending dates become
   * these, less those already exported (never re-armed); see scheduleReminderEmails.
   */
  scheduleReminderEmails(campaignId: string, dates: readonly Date[]): Promise<ReminderEmailSchedule>;
  /**
   * Removes `dueAt` from date.sendReminderEmails, sets date.triggeredEmailReminders and records
   * `dueAt` in the triggered history, if `dueAt` is still there; false when it is not (already
   * handled, or cancelled).
   */
  completeReminderEmails(campaignId: string, dueAt: Date, triggeredAt: Date): Promise<boolean>;
}

interface MarketDoc {
  _id: string;
  campaignId: string;
  marketId: string;
  date: { notification?: Date; notified?: Date };
  recordsWritten?: number;
}

interface EmailDoc {
  _id: string;
  version: number;
  date: { sendReminderEmails: Date[]; triggeredEmailReminders?: Date };
  triggered?: TriggeredReminderEmail[];
}

export const marketStateId = (campaignId: string, marketId: string) => `${campaignId}:${marketId}`;

const toMarket = (d: MarketDoc): MarketNotificationState => ({
  campaignId: d.campaignId,
  marketId: d.marketId,
  ...(d.date?.notification ? { notification: d.date.notification } : {}),
  ...(d.date?.notified ? { notified: d.date.notified } : {}),
  ...(d.recordsWritten !== undefined ? { recordsWritten: d.recordsWritten } : {}),
});

const toEmails = (d: EmailDoc): ReminderEmailState => ({
  campaignId: d._id,
  sendReminderEmails: [...(d.date?.sendReminderEmails ?? [])],
  ...(d.date?.triggeredEmailReminders ? { triggeredEmailReminders: d.date.triggeredEmailReminders } : {}),
  triggered: (d.triggered ?? []).map((t) => ({ dueAt: t.dueAt, triggeredAt: t.triggeredAt })),
});

function validInstant(field: string, d: Date): void {
  if (!(d instanceof Date) || Number.isNaN(d.getTime()))
    throw new ValidationError(field, 'not a valid instant');
}

export class MongoNotificationStateStore implements NotificationStateStore {
  private readonly markets: Collection<MarketDoc>;
  private readonly emails: Collection<EmailDoc>;

  constructor(db: Db) {
    this.markets = db.collection<MarketDoc>('market_notifications');
    this.emails = db.collection<EmailDoc>('campaign_reminder_emails');
  }

  async init(): Promise<void> {
    await ensureIndexes(this.markets, [
      { key: { campaignId: 1 }, name: 'campaign' },
      { key: { 'date.notification': 1 }, name: 'notification' },
    ]);
    await ensureIndexes(this.emails, [
      { key: { 'date.sendReminderEmails': 1 }, name: 'send_reminder_emails' },
    ]);
  }

  async marketsOf(campaignIds: readonly string[]): Promise<MarketNotificationState[]> {
    if (campaignIds.length === 0) return [];
    const docs = await this.markets.find({ campaignId: { $in: [...campaignIds] } }).toArray();
    return docs.map(toMarket);
  }

  async scheduledMarkets(): Promise<MarketNotificationState[]> {
    const docs = await this.markets.find({ 'date.notification': { $exists: true } }).toArray();
    return docs.map(toMarket);
  }

  async getMarket(campaignId: string, marketId: string): Promise<MarketNotificationState | undefined> {
    const doc = await this.markets.findOne({ _id: marketStateId(campaignId, marketId) });
    return doc ? toMarket(doc) : undefined;
  }

  async planNotification(campaignId: string, marketId: string, at: Date): Promise<boolean> {
    validInstant('date.notification', at);
    try {
      const r = await this.markets.updateOne(
        { _id: marketStateId(campaignId, marketId), 'date.notification': { $exists: false } },
        { $set: { campaignId, marketId, 'date.notification': at } },
        { upsert: true },
      );
      return r.modifiedCount + r.upsertedCount > 0;
    } catch (err) {
      if (isDuplicateKey(err)) return false; // planned already: the upsert met the existing _id
      throw err;
    }
  }

  async clearNotification(campaignId: string, marketId: string, expected: Date): Promise<boolean> {
    const r = await this.markets.updateOne(
      { _id: marketStateId(campaignId, marketId), 'date.notification': expected },
      { $unset: { 'date.notification': '' } },
    );
    return r.modifiedCount > 0;
  }

  async markNotified(
    campaignId: string,
    marketId: string,
    at: Date,
    recordsWritten: number,
  ): Promise<boolean> {
    validInstant('date.notified', at);
    try {
      const r = await this.markets.updateOne(
        { _id: marketStateId(campaignId, marketId), 'date.notified': { $exists: false } },
        { $set: { campaignId, marketId, 'date.notified': at, recordsWritten } },
        { upsert: true },
      );
      return r.modifiedCount + r.upsertedCount > 0;
    } catch (err) {
      if (isDuplicateKey(err)) return false;
      throw err;
    }
  }

  async reminderEmailsDue(now: Date): Promise<ReminderEmailState[]> {
    const docs = await this.emails.find({ 'date.sendReminderEmails': { $lte: now } }).toArray();
    return docs.map(toEmails);
  }

  async getReminderEmails(campaignId: string): Promise<ReminderEmailState | undefined> {
    const doc = await this.emails.findOne({ _id: campaignId });
    return doc ? toEmails(doc) : undefined;
  }

  async setReminderEmailDates(campaignId: string, dates: readonly Date[]): Promise<void> {
    for (const [i, d] of dates.entries()) validInstant(`date.sendReminderEmails.${i}`, d);
    await this.emails.updateOne(
      { _id: campaignId },
      { $set: { 'date.sendReminderEmails': [...dates] }, $inc: { version: 1 } },
      { upsert: true },
    );
  }

  async scheduleReminderEmails(campaignId: string, dates: readonly Date[]): Promise<ReminderEmailSchedule> {
    for (const [i, d] of dates.entries()) validInstant(`date.sendReminderEmails.${i}`, d);
    // Read, decide (pure), write back guarded by the version, as completeReminderEmails does: an
    // export completing in between makes the write miss and the loop decide again.
    for (let attempt = 0; attempt < 20; attempt++) {
      const doc = await this.emails.findOne({ _id: campaignId });
      const schedule = scheduleReminderEmails(
        {
          pending: doc?.date?.sendReminderEmails ?? [],
          triggered: (doc?.triggered ?? []).map((t) => t.dueAt),
        },
        dates,
      );
      if (!schedule.changed) return schedule;
      if (!doc) {
        try {
          await this.emails.insertOne({
            _id: campaignId,
            version: 1,
            date: { sendReminderEmails: schedule.pending },
            triggered: [],
          });
          return schedule;
        } catch (err) {
          if (isDuplicateKey(err)) continue; // created meanwhile: decide again
          throw err;
        }
      }
      const r = await this.emails.updateOne(
        { _id: campaignId, version: doc.version },
        { $set: { 'date.sendReminderEmails': schedule.pending }, $inc: { version: 1 } },
      );
      if (r.matchedCount === 1) return schedule;
    }
    throw new RetriableError(`reminder email dates of campaign ${campaignId} kept changing; try again`);
  }

  async completeReminderEmails(campaignId: string, dueAt: Date, triggeredAt: Date): Promise<boolean> {
    // Read, drop the date, write back guarded by the version (FerretDB ignores a conditional $pull):
    // a concurrent change makes the write miss and the loop read again.
    for (let attempt = 0; attempt < 20; attempt++) {
      const doc = await this.emails.findOne({ _id: campaignId });
      const dates = doc?.date?.sendReminderEmails ?? [];
      const index = dates.findIndex((d) => d.getTime() === dueAt.getTime());
      if (!doc || index < 0) return false;
      const remaining = dates.filter((_, i) => i !== index);
      const r = await this.emails.updateOne(
        { _id: campaignId, version: doc.version },
        {
          $set: {
            'date.sendReminderEmails': remaining,
            'date.triggeredEmailReminders': triggeredAt,
            triggered: [...(doc.triggered ?? []), { dueAt, triggeredAt }],
          },
          $inc: { version: 1 },
        },
      );
      if (r.matchedCount === 1) return true;
    }
    throw new Error(`reminder email dates of campaign ${campaignId} kept changing; will retry`);
  }
}

/** In-memory twin for handler tests. */
export class MemoryNotificationStateStore implements NotificationStateStore {
  readonly markets = new Map<string, MarketNotificationState>();
  readonly emails = new Map<string, ReminderEmailState>();

  async init(): Promise<void> {}
  async marketsOf(campaignIds: readonly string[]) {
    return [...this.markets.values()]
      .filter((m) => campaignIds.includes(m.campaignId))
      .map((m) => ({ ...m }));
  }
  async scheduledMarkets() {
    return [...this.markets.values()].filter((m) => m.notification).map((m) => ({ ...m }));
  }
  async getMarket(campaignId: string, marketId: string) {
    const m = this.markets.get(marketStateId(campaignId, marketId));
    return m ? { ...m } : undefined;
  }
  async planNotification(campaignId: string, marketId: string, at: Date) {
    const id = marketStateId(campaignId, marketId);
    const m = this.markets.get(id);
    if (m?.notification) return false;
    this.markets.set(id, { ...(m ?? { campaignId, marketId }), notification: at });
    return true;
  }
  async clearNotification(campaignId: string, marketId: string, expected: Date) {
    const m = this.markets.get(marketStateId(campaignId, marketId));
    if (!m?.notification || m.notification.getTime() !== expected.getTime()) return false;
    delete m.notification;
    return true;
  }
  async markNotified(campaignId: string, marketId: string, at: Date, recordsWritten: number) {
    const id = marketStateId(campaignId, marketId);
    const m = this.markets.get(id);
    if (m?.notified) return false;
    this.markets.set(id, { ...(m ?? { campaignId, marketId }), notified: at, recordsWritten });
    return true;
  }
  async reminderEmailsDue(now: Date) {
    return [...this.emails.values()]
      .filter((e) => e.sendReminderEmails.some((d) => d.getTime() <= now.getTime()))
      .map((e) => ({ ...e, sendReminderEmails: [...e.sendReminderEmails] }));
  }
  async getReminderEmails(campaignId: string) {
    const e = this.emails.get(campaignId);
    return e
      ? { ...e, sendReminderEmails: [...e.sendReminderEmails], triggered: e.triggered.map((t) => ({ ...t })) }
      : undefined;
  }
  async setReminderEmailDates(campaignId: string, dates: readonly Date[]) {
    this.emails.set(campaignId, {
      triggered: [],
      ...this.emails.get(campaignId),
      campaignId,
      sendReminderEmails: [...dates],
    });
  }
  async scheduleReminderEmails(campaignId: string, dates: readonly Date[]) {
    const e = this.emails.get(campaignId);
    const schedule = scheduleReminderEmails(
      { pending: e?.sendReminderEmails ?? [], triggered: (e?.triggered ?? []).map((t) => t.dueAt) },
      dates,
    );
    if (schedule.changed)
      this.emails.set(campaignId, {
        triggered: [],
        ...e,
        campaignId,
        sendReminderEmails: [...schedule.pending],
      });
    return schedule;
  }
  async completeReminderEmails(campaignId: string, dueAt: Date, triggeredAt: Date) {
    const e = this.emails.get(campaignId);
    const index = e?.sendReminderEmails.findIndex((d) => d.getTime() === dueAt.getTime()) ?? -1;
    if (!e || index < 0) return false;
    e.sendReminderEmails.splice(index, 1);
    e.triggeredEmailReminders = triggeredAt;
    e.triggered.push({ dueAt, triggeredAt });
    return true;
  }
}
