import { createHash } from 'node:crypto';
import { TZDate } from '@date-fns/tz';
import { format } from 'date-fns';

// reminder-emails (spec Use Case 4, Email Reminder Phase), the decisions without I/O:
//
//   due        a campaign is due when one of its date.sendReminderEmails is <= now; the earliest
//              such date is handled (one per tick; a campaign with several due dates is handled
//              again on the next tick, 15 minutes later).
//   update     after the export: that date leaves date.sendReminderEmails, and
//              date.triggeredEmailReminders is set (to the handled date's instant of firing).
//   export     one CSV per (campaign, handled date), at a fixed key derived from both, with rows in
//              a fixed order: a rerun after a crash between the upload and the update writes the
//              same object at the same key again, never a second, different file.

export interface EmailCampaign {
  id: string;
  /** date.sendReminderEmails */
  sendReminderEmails: readonly Date[];
}

export interface DueReminderEmail {
  campaignId: string;
  /** The earliest due date: the one this export handles. */
  dueAt: Date;
  /** date.sendReminderEmails after the export. */
  remaining: Date[];
}

/** The campaigns with a reminder-email date at or before now, each with its earliest one, earliest first. */
export function reminderEmailsDue(campaigns: readonly EmailCampaign[], now: Date): DueReminderEmail[] {
  const due: DueReminderEmail[] = [];
  for (const campaign of campaigns) {
    const dates = (campaign.sendReminderEmails ?? []).filter((d) => !Number.isNaN(d.getTime()));
    const earliest = dates.reduce<Date | undefined>(
      (min, d) => (min === undefined || d < min ? d : min),
      undefined,
    );
    if (earliest === undefined || earliest.getTime() > now.getTime()) continue;
    let removed = false;
    const remaining = dates.filter((d) => {
      if (!removed && d.getTime() === earliest.getTime()) {
        removed = true;
        return false;
      }
      return true;
    });
    due.push({ campaignId: campaign.id, dueAt: earliest, remaining });
  }
  return due.sort((a, b) => a.dueAt.getTime() - b.dueAt.getTime() || (a.campaignId < b.campaignId ? -1 : 1));
}

/**
 * What a campaign definition's `date.sendReminderEmails` does to the stored dates (campaign apply,
 * CLI or admin API). The file is declarative for the dates still to come, and history is kept:
 *   - the pending dates become exactly the file's dates, less those already exported (a date found
 *     in the triggered history is never re-armed: re-applying the same file after its export
 *     changes nothing, and no second, different file is written);
 *   - a pending date the file no longer lists is cancelled;
 *   - dates are instants: the same instant written with two offsets is one date.
 * (A definition without `date.sendReminderEmails` leaves the stored dates alone: the service does
 * not call this.)
 */
export interface ReminderEmailSchedule {
  /** date.sendReminderEmails after the change, earliest first. */
  pending: Date[];
  /** Newly armed. */
  added: Date[];
  /** Were pending, no longer in the file: cancelled. */
  cancelled: Date[];
  /** In the file, but already exported: not re-armed. */
  alreadyTriggered: Date[];
  /** Whether `pending` differs from what was stored (a write is needed). */
  changed: boolean;
}

const byTime = (a: Date, b: Date) => a.getTime() - b.getTime();

export function scheduleReminderEmails(
  stored: { pending: readonly Date[]; triggered: readonly Date[] },
  wanted: readonly Date[],
): ReminderEmailSchedule {
  const triggered = new Set(stored.triggered.map((d) => d.getTime()));
  const before = new Set(stored.pending.map((d) => d.getTime()));
  const wantedTimes = [...new Set(wanted.map((d) => d.getTime()))].sort((a, b) => a - b);
  const pending = wantedTimes.filter((t) => !triggered.has(t));
  const after = new Set(pending);
  const beforeSorted = [...before].sort((a, b) => a - b);
  return {
    pending: pending.map((t) => new Date(t)),
    added: pending.filter((t) => !before.has(t)).map((t) => new Date(t)),
    cancelled: beforeSorted.filter((t) => !after.has(t)).map((t) => new Date(t)),
    alreadyTriggered: wantedTimes.filter((t) => triggered.has(t)).map((t) => new Date(t)),
    changed:
      stored.pending.length !== pending.length ||
      [...stored.pending].sort(byTime).some((d, i) => d.getTime() !== pending[i]),
  };
}

export interface ReminderRecipient {
  email: string;
  name: string;
  marketId: string;
  marketName: string;
  code: string;
  presaleAt: Date;
  /** The market's IANA time zone: the presale time is written in it, with its offset. */
  timezone: string;
}

export const EXPORT_COLUMNS = ['email', 'name', 'market_id', 'market', 'code', 'presale_at'] as const;

/** The object key of a campaign's export for one reminder date: the same on every rerun. */
export const exportKey = (campaignId: string, dueAt: Date) =>
  `reminder-emails/${encodeURIComponent(campaignId)}/${dueAt.toISOString()}.csv`;

// RFC 4180 quoting; a cell that a spreadsheet would read as a formula gets a leading apostrophe.
function cell(value: string): string {
  const safe = /^[=+\-@\t\r]/.test(value) ? `'${value}` : value;
  return /[",\r\n]/.test(safe) ? `"${safe.replaceAll('"', '""')}"` : safe;
}

export interface ReminderExport {
  key: string;
  body: string;
  /** SHA-256 of the body, hex: stored with the object so a rerun can be compared. */
  sha256: string;
  rows: number;
}

/** The CSV of a campaign's reminder recipients: header, then one row per recipient and market, sorted. */
export function reminderExport(
  campaignId: string,
  dueAt: Date,
  recipients: readonly ReminderRecipient[],
): ReminderExport {
  const rows = recipients
    .map((r) => [
      r.email.trim().toLowerCase(),
      r.name.trim(),
      r.marketId,
      r.marketName,
      r.code,
      format(new TZDate(r.presaleAt.getTime(), r.timezone), "yyyy-MM-dd'T'HH:mm:ssXXX"),
    ])
    .sort((a, b) => (a.join('\u0000') < b.join('\u0000') ? -1 : a.join('\u0000') > b.join('\u0000') ? 1 : 0));
  const unique = rows.filter((row, i) => i === 0 || row.join('\u0000') !== rows[i - 1]!.join('\u0000'));
  const body = `${[EXPORT_COLUMNS.join(','), ...unique.map((row) => row.map(cell).join(','))].join('\r\n')}\r\n`;
  return {
    key: exportKey(campaignId, dueAt),
    body,
    sha256: createHash('sha256').update(body).digest('hex'),
    rows: unique.length,
  };
}
