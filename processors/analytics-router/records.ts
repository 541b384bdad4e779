import { hash } from 'node:crypto';
import avro from 'avsc';
import { loadSchema } from '../../schemas/index.ts';
import type {
  AnalyticsCampaign,
  AnalyticsEventMapping,
  AnalyticsMarket,
  AnalyticsRegisteredMarket,
  AnalyticsRegistration,
  DataRecord,
} from '../../schemas/types.generated.ts';

// The rules of the analytics fan-out (spec use case 5), pure: check an envelope's type and
// payload, format the payload for its type, validate it against the type's Avro schema, and
// derive its key and dedup id. No Kafka here: the router's handler and `regflow publish-data`
// both use it.

export const DataType = {
  CAMPAIGN: 'CAMPAIGN',
  EVENT_MAPPING: 'EVENT_MAPPING',
  MARKET: 'MARKET',
  REGISTERED_MARKET: 'REGISTERED_MARKET',
  REGISTRATION: 'REGISTRATION',
} as const;
export type DataType = (typeof DataType)[keyof typeof DataType];
export const DATA_TYPES = Object.values(DataType);

/** Why a record was rejected: the value of header `regflow-reject-reason`. */
export const RejectReason = {
  UNKNOWN_TYPE: 'UNKNOWN_TYPE',
  EMPTY_PAYLOAD: 'EMPTY_PAYLOAD',
  /** `data` is not JSON, or not a JSON object. */
  MALFORMED_PAYLOAD: 'MALFORMED_PAYLOAD',
  /** The formatted record does not fit its type's schema (missing or wrongly typed field). */
  SCHEMA_VIOLATION: 'SCHEMA_VIOLATION',
} as const;
export type RejectReason = (typeof RejectReason)[keyof typeof RejectReason];

/** Headers the router writes; analytics consumers and operators read them. */
export const AnalyticsHeader = {
  DEDUP_ID: 'regflow-dedup-id',
  REJECT_REASON: 'regflow-reject-reason',
  /** The offending field: `type`, `data`, a field of the typed record (`presaleAt`, `markets[1]`), or an envelope field. */
  REJECT_FIELD: 'regflow-reject-field',
  REJECT_MESSAGE: 'regflow-reject-message',
} as const;

/** Each type's topic and value schema (file under schemas/), as declared in topology/index.ts. */
export const TYPE_TOPICS: Readonly<Record<DataType, { topic: string; schema: string }>> = {
  CAMPAIGN: { topic: 'campaign', schema: 'analytics-campaign' },
  EVENT_MAPPING: { topic: 'event-mapping', schema: 'analytics-event-mapping' },
  MARKET: { topic: 'market', schema: 'analytics-market' },
  REGISTERED_MARKET: { topic: 'registered-market', schema: 'analytics-registered-market' },
  REGISTRATION: { topic: 'registration', schema: 'analytics-registration' },
};

export interface Rejection {
  reason: RejectReason;
  field: string;
  /** One line for an operator. Names the field and what was expected; never echoes payload values. */
  message: string;
}

export type AnalyticsRecord =
  | AnalyticsCampaign
  | AnalyticsEventMapping
  | AnalyticsMarket
  | AnalyticsRegisteredMarket
  | AnalyticsRegistration;

export type Routed =
  | { ok: true; type: DataType; key: string; dedupId: string; value: AnalyticsRecord }
  | { ok: false; rejection: Rejection };

/** A formatter could not map a field (e.g. a date that is no date): names the typed record's field. */
class FieldError extends Error {
  constructor(
    readonly field: string,
    reason: string,
  ) {
    super(`${field}: ${reason}`);
  }
}

/**
 * The dedup id of a source change: hex SHA-256 of [type, source, sourceRecordId] as JSON (a JSON
 * array, so no choice of separator can make two different triples collide). A redelivery or a
 * replay of the same envelope yields the same id.
 */
export function dedupIdOf(type: string, source: string, sourceRecordId: string): string {
  return hash('sha256', JSON.stringify([type, source, sourceRecordId]), 'hex');
}

export const isDataType = (type: string): type is DataType => Object.hasOwn(DataType, type);

type Json = Record<string, unknown>;
type Meta = Pick<AnalyticsCampaign, 'recordId' | 'occurredAt' | 'source' | 'sourceRecordId'>;

interface TypeRules<T extends AnalyticsRecord> {
  format(data: Json, meta: Meta): T;
  /** The id fields that make up the key: they must be non-empty strings. */
  ids: readonly string[];
  key(value: T): string;
}

// ---- formatters: the producers' payload (domain shape, dates as ISO text or epoch millis, nested
// `date.*` as in the spec) → the typed record. They pick the fields they know, so anything else in
// the payload (email, name, phone, postal code) is dropped here and never reaches analytics.

// Paths are split once, not per record, and formatters build their records field by field (no
// spreads): this runs for every record of the pipeline.
const splitPaths = new Map<string, readonly string[]>();
const partsOf = (dotted: string): readonly string[] => {
  let parts = splitPaths.get(dotted);
  if (parts === undefined) {
    parts = dotted.split('.');
    splitPaths.set(dotted, parts);
  }
  return parts;
};

const path = (data: Json, dotted: string): unknown => {
  if (!dotted.includes('.')) return data[dotted];
  let at: unknown = data;
  for (const part of partsOf(dotted)) {
    if (at === null || typeof at !== 'object') return undefined;
    at = (at as Json)[part];
  }
  return at;
};

/** The first of `paths` present in the payload (undefined when none is: a required field is then reported missing). */
const pick = (data: Json, p1: string, p2?: string, p3?: string): unknown => {
  let v = path(data, p1);
  if (v === undefined && p2 !== undefined) v = path(data, p2);
  if (v === undefined && p3 !== undefined) v = path(data, p3);
  return v;
};

const orNull = (v: unknown) => (v === undefined ? null : v);

const ISO_DATE_TIME = /^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?$/;

/** ISO 8601 text or epoch millis → epoch millis; anything else is left for the schema check to name. */
function millis(field: string, v: unknown): unknown {
  if (typeof v !== 'string') return v;
  const t = Date.parse(v);
  if (!ISO_DATE_TIME.test(v) || Number.isNaN(t)) {
    throw new FieldError(field, 'expected an ISO 8601 date-time or epoch millis');
  }
  return t;
}

const date = (data: Json, field: string, nested: string) => millis(field, pick(data, field, nested));
const optionalDate = (data: Json, field: string, nested: string) => orNull(date(data, field, nested));

/** Market ids given as strings or as objects with an id. */
const marketIds = (v: unknown): unknown =>
  Array.isArray(v)
    ? v.map((m) => (m !== null && typeof m === 'object' ? ((m as Json).id ?? (m as Json).marketId ?? m) : m))
    : v;

const campaign: TypeRules<AnalyticsCampaign> = {
  format: (d, meta) => ({
    recordId: meta.recordId,
    occurredAt: meta.occurredAt,
    source: meta.source,
    sourceRecordId: meta.sourceRecordId,
    id: pick(d, 'id', '_id', 'campaignId') as string,
    name: pick(d, 'name') as string,
    status: pick(d, 'status') as AnalyticsCampaign['status'],
    gateType: orNull(pick(d, 'gateType', 'gate.type')) as string | null,
    linkedCampaignId: orNull(pick(d, 'linkedCampaignId', 'gate.linkedCampaignId')) as string | null,
    openAt: optionalDate(d, 'openAt', 'date.open') as number | null,
    closeAt: optionalDate(d, 'closeAt', 'date.close') as number | null,
    closedAt: optionalDate(d, 'closedAt', 'date.closed') as number | null,
    createdAt: optionalDate(d, 'createdAt', 'date.created') as number | null,
    updatedAt: optionalDate(d, 'updatedAt', 'date.updated') as number | null,
    seedHash: orNull(pick(d, 'seedHash')) as string | null,
  }),
  ids: ['id'],
  key: (v) => v.id,
};

const market: TypeRules<AnalyticsMarket> = {
  format: (d, meta) => {
    const locales = pick(d, 'locales');
    const locale = pick(d, 'locale');
    return {
      recordId: meta.recordId,
      occurredAt: meta.occurredAt,
      source: meta.source,
      sourceRecordId: meta.sourceRecordId,
      id: pick(d, 'id', '_id', 'marketId') as string,
      campaignId: pick(d, 'campaignId') as string,
      name: pick(d, 'name') as string,
      ticketer: pick(d, 'ticketer') as string,
      presaleAt: date(d, 'presaleAt', 'date.presale') as number,
      timezone: pick(d, 'timezone', 'timeZone') as string,
      locales: (locales ?? (locale === undefined ? [] : [locale])) as string[],
      automatedReminders: (pick(d, 'automatedReminders', 'options.automatedReminders') ?? false) as boolean,
      notificationAt: optionalDate(d, 'notificationAt', 'date.notification') as number | null,
      notifiedAt: optionalDate(d, 'notifiedAt', 'date.notified') as number | null,
      createdAt: optionalDate(d, 'createdAt', 'date.created') as number | null,
      updatedAt: optionalDate(d, 'updatedAt', 'date.updated') as number | null,
    };
  },
  ids: ['campaignId', 'id'],
  key: (v) => `${v.campaignId}:${v.id}`,
};

const eventMapping: TypeRules<AnalyticsEventMapping> = {
  format: (d, meta) => ({
    recordId: meta.recordId,
    occurredAt: meta.occurredAt,
    source: meta.source,
    sourceRecordId: meta.sourceRecordId,
    campaignId: pick(d, 'campaignId') as string,
    marketId: pick(d, 'marketId') as string,
    eventId: pick(d, 'eventId') as string,
    eventLink: orNull(pick(d, 'eventLink', 'link')) as string | null,
    eventName: orNull(pick(d, 'eventName')) as string | null,
    eventAt: optionalDate(d, 'eventAt', 'date.event') as number | null,
    deleted: (pick(d, 'deleted') ?? false) as boolean,
  }),
  ids: ['campaignId', 'marketId', 'eventId'],
  key: (v) => `${v.campaignId}:${v.marketId}:${v.eventId}`,
};

const registration: TypeRules<AnalyticsRegistration> = {
  format: (d, meta) => ({
    recordId: meta.recordId,
    occurredAt: meta.occurredAt,
    source: meta.source,
    sourceRecordId: meta.sourceRecordId,
    campaignId: pick(d, 'campaignId') as string,
    globalUserId: pick(d, 'globalUserId') as string,
    markets: marketIds(pick(d, 'markets')) as string[],
    linkedFrom: orNull(pick(d, 'linkedFrom')) as string | null,
    locale: orNull(pick(d, 'locale')) as string | null,
    marketingOptIn: orNull(pick(d, 'marketingOptIn')) as boolean | null,
    createdAt: optionalDate(d, 'createdAt', 'date.created') as number | null,
    updatedAt: optionalDate(d, 'updatedAt', 'date.updated') as number | null,
    fanModifiedAt: optionalDate(d, 'fanModifiedAt', 'date.fanModified') as number | null,
    deleted: (pick(d, 'deleted') ?? false) as boolean,
  }),
  ids: ['campaignId', 'globalUserId'],
  key: (v) => `${v.campaignId}:${v.globalUserId}`,
};

const registeredMarket: TypeRules<AnalyticsRegisteredMarket> = {
  format: (d, meta) => ({
    recordId: meta.recordId,
    occurredAt: meta.occurredAt,
    source: meta.source,
    sourceRecordId: meta.sourceRecordId,
    campaignId: pick(d, 'campaignId') as string,
    marketId: pick(d, 'marketId') as string,
    globalUserId: pick(d, 'globalUserId') as string,
    preference: orNull(pick(d, 'preference')) as number | null,
    verdict: orNull(pick(d, 'verdict')) as boolean | null,
    registeredAt: optionalDate(d, 'registeredAt', 'date.created') as number | null,
    updatedAt: optionalDate(d, 'updatedAt', 'date.updated') as number | null,
    deleted: (pick(d, 'deleted') ?? false) as boolean,
  }),
  ids: ['campaignId', 'marketId', 'globalUserId'],
  key: (v) => `${v.campaignId}:${v.marketId}:${v.globalUserId}`,
};

const RULES: Record<DataType, TypeRules<AnalyticsRecord>> = {
  CAMPAIGN: campaign as TypeRules<AnalyticsRecord>,
  EVENT_MAPPING: eventMapping as TypeRules<AnalyticsRecord>,
  MARKET: market as TypeRules<AnalyticsRecord>,
  REGISTERED_MARKET: registeredMarket as TypeRules<AnalyticsRecord>,
  REGISTRATION: registration as TypeRules<AnalyticsRecord>,
};

// ---- validators: the typed record against its Avro type, naming the first bad field.

let types: Record<DataType, avro.Type> | undefined;
/** Each type's Avro type, parsed once from schemas/. */
export function analyticsTypes(): Record<DataType, avro.Type> {
  types ??= Object.fromEntries(
    DATA_TYPES.map((t) => [t, avro.Type.forSchema(loadSchema(TYPE_TOPICS[t].schema) as avro.Schema)]),
  ) as Record<DataType, avro.Type>;
  return types;
}

const expected = (type: avro.Type): string => {
  const schema = type.schema() as unknown;
  if (Array.isArray(schema)) return schema.map((s) => (typeof s === 'string' ? s : s.type)).join(' or ');
  if (typeof schema === 'string') return schema;
  const s = schema as { type: string; symbols?: string[]; items?: unknown };
  if (s.type === 'enum') return `one of ${s.symbols?.join(', ')}`;
  return s.type;
};

/** What a value is, without echoing it (payloads may carry personal data). */
const kindOf = (v: unknown) =>
  v === null
    ? 'null'
    : Array.isArray(v)
      ? 'array'
      : typeof v === 'number' && !Number.isInteger(v)
        ? 'a fractional number'
        : typeof v;

/** Null when `value` fits `type`; else the first offending field (`presaleAt`, `markets[1]`) and why. */
export function validateAgainst(type: avro.Type, value: unknown): { field: string; message: string } | null {
  // The plain check is several times faster than one with an error hook: take the hook's path
  // only for the rare invalid record.
  if (type.isValid(value)) return null;
  let first: { field: string; message: string } | null = null;
  const ok = type.isValid(value, {
    errorHook(path: string[], got: unknown, t: avro.Type) {
      if (first !== null) return;
      const field = path.reduce((acc, p) => (/^\d+$/.test(p) ? `${acc}[${p}]` : acc ? `${acc}.${p}` : p), '');
      const why = got === undefined ? 'is required' : `expected ${expected(t)}, got ${kindOf(got)}`;
      first = { field: field || '(record)', message: `${field || 'record'} ${why}` };
    },
  });
  return ok ? null : (first ?? { field: '(record)', message: 'does not match the schema' });
}

const reject = (reason: RejectReason, field: string, message: string): Routed => ({
  ok: false,
  rejection: { reason, field, message },
});

const clip = (s: string, n = 80) => (s.length > n ? `${s.slice(0, n)}…` : s);

/**
 * One envelope through the spec's checks, in its order: the type is known, the payload is not
 * empty, the formatted record fits the type's schema. Never throws for bad input.
 */
export function routeDataRecord(envelope: DataRecord): Routed {
  const { type } = envelope;
  if (!isDataType(type)) {
    return reject(
      RejectReason.UNKNOWN_TYPE,
      'type',
      `type ${JSON.stringify(clip(type))} is not one of ${DATA_TYPES.join(', ')}`,
    );
  }
  const text = envelope.data.trim();
  if (text === '') return reject(RejectReason.EMPTY_PAYLOAD, 'data', 'data is empty');
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (err) {
    return reject(RejectReason.MALFORMED_PAYLOAD, 'data', `data is not JSON: ${(err as Error).message}`);
  }
  if (data === null || (typeof data === 'object' && !Array.isArray(data) && Object.keys(data).length === 0)) {
    return reject(RejectReason.EMPTY_PAYLOAD, 'data', `data is ${JSON.stringify(data)}`);
  }
  if (typeof data !== 'object' || Array.isArray(data)) {
    return reject(RejectReason.MALFORMED_PAYLOAD, 'data', `data must be a JSON object, got ${kindOf(data)}`);
  }
  for (const field of ['source', 'sourceRecordId'] as const) {
    if (envelope[field].trim() === '') {
      return reject(RejectReason.SCHEMA_VIOLATION, field, `${field} is empty: the dedup id needs it`);
    }
  }

  const rules = RULES[type];
  const dedupId = dedupIdOf(type, envelope.source, envelope.sourceRecordId);
  let value: AnalyticsRecord;
  try {
    value = rules.format(data as Json, {
      recordId: dedupId,
      occurredAt: envelope.occurredAt,
      source: envelope.source,
      sourceRecordId: envelope.sourceRecordId,
    });
  } catch (err) {
    if (!(err instanceof FieldError)) throw err;
    return reject(RejectReason.SCHEMA_VIOLATION, err.field, `${type}: ${err.message}`);
  }
  const violation = validateAgainst(analyticsTypes()[type], value);
  if (violation)
    return reject(RejectReason.SCHEMA_VIOLATION, violation.field, `${type}: ${violation.message}`);
  const blank = rules.ids.find((f) => (value as unknown as Json)[f] === '');
  if (blank !== undefined) {
    return reject(
      RejectReason.SCHEMA_VIOLATION,
      blank,
      `${type}: ${blank} must not be empty (it keys the record)`,
    );
  }
  return { ok: true, type, key: rules.key(value), dedupId, value };
}
