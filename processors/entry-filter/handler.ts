import { ValidationError } from '../../lib/errors.ts';
import type { Handler, OutputRecord } from '../../runtime/types.ts';
import type { DemandChange, EntryChange, EntryPayload } from '../../schemas/types.generated.ts';

// The spec's enqueueEntries: from every demand-table change, keep the fan's entry changes and turn
// them into typed entry changes for the replicator. Pure: no client, no clock.
//
// Kept:
//   INSERT of an entry item (SK entry#…) with date.fanModified or needsReplication: true
//     (a snapshot INSERT of an existing entry too);
//   MODIFY of an entry item where date.fanModified changed (the fan wrote it), or where
//     needsReplication is true and either just turned true or the version moved (a write that asks
//     for replication; two fan writes in the same millisecond share a fanModified but not a version);
//   REMOVE of an entry item: the fan withdrew it → a DELETE change carrying the old version.
// Skipped (no output): other item types (reminders …) and system changes — a MODIFY that leaves
// fanModified and the version alone (the replicator's unflag write, verdict writes).
// Counted (ctx.metrics → regflow_handler_outcomes_total): `kept`, `skipped`.
// The recordId is the stream sequence number (the spec's SQS messageId), or the eventId of a
// snapshot INSERT: the same change always gets the same id.
// A change that is an entry but lacks what replication needs (campaignId, globalUserId, version,
// email, locale, markets) is bad input: a ValidationError naming the field (dead-lettered).

type Image = Record<string, unknown>;

const ENTRY_SK = 'entry#';

export function isEntryKey(keys: Record<string, string>): boolean {
  const sk = parseJson(keys.SK, 'keys.SK');
  return typeof sk === 'string' && sk.startsWith(ENTRY_SK);
}

function parseJson(text: string | null | undefined, field: string): unknown {
  if (text === null || text === undefined) return undefined;
  try {
    return JSON.parse(text);
  } catch {
    throw new ValidationError(field, 'is not valid JSON');
  }
}

function image(text: string | null, field: string): Image | undefined {
  const v = parseJson(text, field);
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'object' || Array.isArray(v)) throw new ValidationError(field, 'expected a JSON object');
  return v as Image;
}

const dateOf = (img: Image | undefined, name: 'updated' | 'fanModified'): string | undefined => {
  const date = img?.date as Record<string, unknown> | undefined;
  const v = date?.[name];
  return typeof v === 'string' ? v : undefined;
};

/** Why a change is kept for replication, or null when it is not (a pure rule, exported for tests). */
export function replicationReason(change: DemandChange, oldImg?: Image, newImg?: Image): string | null {
  switch (change.op) {
    case 'REMOVE':
      return oldImg ? 'withdrawn' : null;
    case 'INSERT':
      if (dateOf(newImg, 'fanModified') !== undefined) return 'fan-modified';
      return newImg?.needsReplication === true ? 'needs-replication' : null;
    case 'MODIFY': {
      if (dateOf(newImg, 'fanModified') !== dateOf(oldImg, 'fanModified')) return 'fan-modified';
      if (newImg?.needsReplication !== true) return null;
      if (oldImg?.needsReplication !== true) return 'needs-replication';
      return newImg.version !== oldImg.version ? 'needs-replication' : null;
    }
  }
}

const str = (img: Image, name: string, field: string): string => {
  const v = img[name];
  if (typeof v !== 'string' || v === '')
    throw new ValidationError(`${field}.${name}`, 'expected a non-empty string');
  return v;
};
const optStr = (img: Image, name: string, field: string): string | null => {
  const v = img[name];
  if (v === undefined || v === null) return null;
  if (typeof v !== 'string') throw new ValidationError(`${field}.${name}`, 'expected a string');
  return v;
};
const version = (img: Image, field: string): number => {
  const v = img.version;
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0)
    throw new ValidationError(`${field}.version`, 'expected a whole number (the item version)');
  return v;
};
const markets = (img: Image | undefined, field: string): string[] => {
  if (img === undefined || img.markets === undefined) return [];
  const v = img.markets;
  if (!Array.isArray(v) || !v.every((m) => typeof m === 'string'))
    throw new ValidationError(`${field}.markets`, 'expected an array of market ids');
  return v as string[];
};

function payload(img: Image, field: string): EntryPayload {
  const marketing = (img.marketing ?? {}) as Record<string, unknown>;
  const doTransfer = img.doTransfer;
  return {
    email: str(img, 'email', field),
    firstName: optStr(img, 'firstName', field),
    lastName: optStr(img, 'lastName', field),
    phone: optStr(img, 'phone', field),
    postalCode: optStr(img, 'postalCode', field),
    locale: str(img, 'locale', field),
    markets: markets(img, field),
    marketing: { emailOptIn: marketing.emailOptIn === true, smsOptIn: marketing.smsOptIn === true },
    doTransfer: typeof doTransfer === 'boolean' ? doTransfer : null,
    linkedFrom: optStr(img, 'linkedFrom', field),
    createdAt: optStr(img, 'createdAt', field),
  };
}

/** The entry change for a kept demand change (pure). */
export function toEntryChange(
  change: DemandChange,
  oldImg: Image | undefined,
  newImg: Image | undefined,
): EntryChange {
  const deletion = change.op === 'REMOVE';
  const field = deletion ? 'oldImage' : 'newImage';
  const img = deletion ? oldImg : newImg;
  if (!img) throw new ValidationError(field, `missing for ${change.op}`);
  return {
    recordId: change.sequenceNumber ?? change.eventId,
    eventId: change.eventId,
    kind: deletion ? 'DELETE' : 'UPSERT',
    sourceOp: change.op,
    table: change.table,
    campaignId: str(img, 'campaignId', field),
    globalUserId: str(img, 'globalUserId', field),
    version: version(img, field),
    updated: dateOf(img, 'updated') ?? null,
    fanModified: dateOf(img, 'fanModified') ?? null,
    entry: deletion ? null : payload(img, field),
    previousMarkets: markets(oldImg, 'oldImage'),
    sequenceNumber: change.sequenceNumber,
    approximateCreationTime: change.approximateCreationTime,
  };
}

export function entryFilterHandler(output: string): Handler<DemandChange> {
  return (record, ctx) => {
    const change = record.value;
    if (!isEntryKey(change.keys)) {
      ctx.metrics?.count('skipped');
      return [];
    }
    const oldImg = image(change.oldImage, 'oldImage');
    const newImg = image(change.newImage, 'newImage');
    const reason = replicationReason(change, oldImg, newImg);
    if (reason === null) {
      ctx.metrics?.count('skipped');
      return [];
    }
    const entryChange = toEntryChange(change, oldImg, newImg);
    ctx.metrics?.count('kept');
    ctx.log.info(
      { recordId: entryChange.recordId, kind: entryChange.kind, campaignId: entryChange.campaignId, reason },
      'entry change kept for replication',
    );
    const out: OutputRecord<EntryChange> = { topic: output, key: record.key, value: entryChange };
    return [out];
  };
}
