import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { Partitioners } from 'kafkajs';
import { loadConfig } from '../config/index.ts';
import { createKafka, createSchemaRegistry } from '../lib/clients.ts';
import { UsageError, ValidationError } from '../lib/errors.ts';
import { DATA_RECORDS_TOPIC } from '../processors/analytics-router/processor.ts';
import { routeDataRecord } from '../processors/analytics-router/records.ts';
import { Codec } from '../runtime/codec.ts';
import { loadSchema } from '../schemas/index.ts';
import type { DataRecord } from '../schemas/types.generated.ts';
import { ensureTopic } from './tail.ts';

// `regflow publish-data -f records.jsonl`: writes analytics envelopes to data.records for scripts
// and outside systems. One JSON object a line:
//   {"type": "MARKET", "data": {...}, "occurredAt": "2027-01-12T10:00:00Z", "source": "crm", "sourceRecordId": "m1@3"}
// `data` may be an object or JSON text; `occurredAt` ISO 8601 or epoch millis. Every line is
// checked first (the envelope, and the same type / payload / schema rules as analytics-router);
// any error names its line and nothing is published. --allow-invalid publishes records the router
// will reject (the envelope must still be well-formed).

/** Errors listed before "... and N more". */
const MAX_ERRORS_SHOWN = 20;
const CHUNK = 1_000;

export interface ParsedLine {
  line: number;
  key: string;
  value: DataRecord;
}

const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})$/;

function requiredString(obj: Record<string, unknown>, field: string): string {
  const v = obj[field];
  if (typeof v !== 'string' || v.trim() === '') {
    throw new ValidationError(field, v === undefined ? 'is required' : 'must be a non-empty string');
  }
  return v;
}

/** One line → an envelope; throws a ValidationError naming the field. */
export function envelopeOf(obj: unknown): DataRecord {
  if (obj === null || typeof obj !== 'object' || Array.isArray(obj)) {
    throw new ValidationError(
      'line',
      'must be a JSON object with type, data, occurredAt, source, sourceRecordId',
    );
  }
  const o = obj as Record<string, unknown>;
  const type = requiredString(o, 'type');
  if (o.data === undefined) throw new ValidationError('data', 'is required');
  const data = typeof o.data === 'string' ? o.data : JSON.stringify(o.data);
  let occurredAt: number;
  if (typeof o.occurredAt === 'number' && Number.isSafeInteger(o.occurredAt) && o.occurredAt >= 0) {
    occurredAt = o.occurredAt;
  } else if (
    typeof o.occurredAt === 'string' &&
    ISO.test(o.occurredAt) &&
    !Number.isNaN(Date.parse(o.occurredAt))
  ) {
    occurredAt = Date.parse(o.occurredAt);
  } else {
    throw new ValidationError(
      'occurredAt',
      o.occurredAt === undefined
        ? 'is required'
        : 'expected an ISO 8601 date-time with a zone, or epoch millis',
    );
  }
  return {
    type,
    data,
    occurredAt,
    source: requiredString(o, 'source'),
    sourceRecordId: requiredString(o, 'sourceRecordId'),
  };
}

/**
 * Parses a JSON-lines text into envelopes keyed by entity (the router's key, so one entity's
 * changes share a partition of data.records and stay in order). Blank lines are skipped. Returns
 * every line's error, each prefixed `<file>:<line>:`.
 */
export function parseDataLines(
  text: string,
  opts: { file: string; allowInvalid?: boolean },
): { records: ParsedLine[]; errors: string[] } {
  const records: ParsedLine[] = [];
  const errors: string[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const raw = lines[i]!.trim();
    if (raw === '') continue;
    const where = `${opts.file}:${i + 1}`;
    let obj: unknown;
    try {
      obj = JSON.parse(raw);
    } catch (err) {
      errors.push(`${where}: not JSON: ${(err as Error).message}`);
      continue;
    }
    let value: DataRecord;
    try {
      value = envelopeOf(obj);
    } catch (err) {
      errors.push(`${where}: ${(err as Error).message}`);
      continue;
    }
    const routed = routeDataRecord(value);
    if (!routed.ok && !opts.allowInvalid) {
      const { reason, message } = routed.rejection;
      errors.push(`${where}: ${reason}: ${message}`);
      continue;
    }
    records.push({ line: i + 1, key: routed.ok ? routed.key : value.sourceRecordId, value });
  }
  return { records, errors };
}

interface PublishOptions {
  file: string;
  topic: string;
  allowInvalid?: boolean;
  dryRun?: boolean;
}

export function registerPublishData(program: Command): void {
  program
    .command('publish-data')
    .description(
      'publish analytics envelopes (JSON lines: type, data, occurredAt, source, sourceRecordId) to data.records; ' +
        'every line is checked first and nothing is published if one fails',
    )
    .requiredOption('-f, --file <path>', 'JSON-lines file, or - for standard input')
    .option('--topic <topic>', 'topic to write', DATA_RECORDS_TOPIC)
    .option(
      '--allow-invalid',
      'publish records the router will reject (their envelope must still be well-formed)',
    )
    .option('--dry-run', 'check the file, publish nothing')
    .action(async (opts: PublishOptions) => {
      let text: string;
      try {
        text = readFileSync(opts.file === '-' ? 0 : opts.file, 'utf8');
      } catch (err) {
        throw new UsageError(
          `cannot read ${opts.file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
        );
      }
      const file = opts.file === '-' ? 'stdin' : opts.file;
      const { records, errors } = parseDataLines(text, { file, allowInvalid: opts.allowInvalid === true });
      if (errors.length > 0) {
        const more =
          errors.length > MAX_ERRORS_SHOWN ? `\n... and ${errors.length - MAX_ERRORS_SHOWN} more` : '';
        throw new UsageError(
          `${errors.length} invalid line(s), nothing published:\n${errors.slice(0, MAX_ERRORS_SHOWN).join('\n')}${more}`,
        );
      }
      if (opts.dryRun) {
        console.log(`${records.length} record(s) valid; nothing published (--dry-run)`);
        return;
      }
      const config = loadConfig();
      const kafka = createKafka(config.kafka);
      const admin = kafka.admin();
      await admin.connect();
      try {
        await ensureTopic(admin, opts.topic, ': run `regflow topics create` first');
      } finally {
        await admin.disconnect();
      }
      const codec = new Codec(createSchemaRegistry(config.schemaRegistry));
      await codec.register(opts.topic, loadSchema('data-record'));
      // Idempotent: kafkajs resends a whole Produce request when one partition of it fails.
      const producer = kafka.producer({
        createPartitioner: Partitioners.DefaultPartitioner,
        idempotent: true,
        allowAutoTopicCreation: false,
      });
      await producer.connect();
      try {
        for (let i = 0; i < records.length; i += CHUNK) {
          const messages = await Promise.all(
            records.slice(i, i + CHUNK).map(async (r) => ({
              key: r.key,
              value: await codec.encode(opts.topic, r.value),
            })),
          );
          await producer.send({ topic: opts.topic, messages, acks: -1 });
        }
      } finally {
        await producer.disconnect();
      }
      console.log(`published ${records.length} record(s) to ${opts.topic}`);
    });
}
