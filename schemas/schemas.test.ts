import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import avro from 'avsc';
import { afterAll, describe, expect, it } from 'vitest';
import { generateTypes, generateTypesFromSchemas, TYPES_FILE } from './generate-types.ts';
import { listSchemas, loadSchema } from './index.ts';
import type { SampleEvent } from './types.generated.ts';

describe('schemas', () => {
  it('ships at least the sample event', () => {
    expect(listSchemas()).toContain('sample-event');
  });

  it.each(listSchemas())('%s.avsc is a valid Avro schema', (name) => {
    expect(() => avro.Type.forSchema(loadSchema(name) as avro.Schema)).not.toThrow();
  });

  it('types.generated.ts is what `npm run schemas:types` would write (run it after editing a schema)', () => {
    expect(readFileSync(TYPES_FILE, 'utf8')).toBe(generateTypesFromSchemas());
  });

  it('round-trips a sample event through Avro, the default filled in', () => {
    const type = avro.Type.forSchema(loadSchema('sample-event') as avro.Schema);
    const event: SampleEvent = {
      id: 'e-1',
      key: 'k-7',
      seq: 2 ** 40,
      payload: 'x'.repeat(100),
      behavior: 'transient:3',
      producedAt: Date.UTC(2026, 0, 31, 12),
    };
    expect(type.fromBuffer(type.toBuffer(event))).toEqual(event);
    const { behavior: _, ...withoutBehavior } = event;
    expect(type.fromBuffer(type.toBuffer(type.clone(withoutBehavior))).behavior).toBe('ok');
  });
});

describe('loadSchema', () => {
  const dir = mkdtempSync(join(tmpdir(), 'regflow-schemas-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('names the file when it is not a valid Avro schema', () => {
    const fields = [{ name: 'a', type: 'strng' }];
    writeFileSync(join(dir, 'broken.avsc'), JSON.stringify({ type: 'record', name: 'Broken', fields }));
    expect(() => loadSchema('broken', dir)).toThrow(/broken\.avsc: not a valid Avro schema: .*strng/);
  });

  it('names the file when it is not JSON', () => {
    writeFileSync(join(dir, 'not-json.avsc'), '{ "type": "record",');
    expect(() => loadSchema('not-json', dir)).toThrow(/not-json\.avsc: not JSON/);
  });

  it('names the file when it does not exist, and lists the ones that do', () => {
    expect(() => loadSchema('no-such-schema')).toThrow(
      /schemas\/no-such-schema\.avsc: no such schema \(have: .*sample-event/,
    );
  });

  it('refuses names that are not kebab-case (they become paths)', () => {
    expect(() => loadSchema('../package')).toThrow(/schema name/);
  });
});

describe('generateTypes', () => {
  const generate = (schema: unknown) => generateTypes([{ name: 'x', schema }]);

  it('maps records, primitives, logical types, arrays, maps, enums and nullable unions', () => {
    const out = generate({
      type: 'record',
      name: 'Entry',
      namespace: 'regflow.test',
      fields: [
        { name: 'id', type: 'string' },
        { name: 'count', type: 'int' },
        { name: 'total', type: 'long' },
        { name: 'ratio', type: 'double' },
        { name: 'ok', type: 'boolean' },
        { name: 'raw', type: 'bytes' },
        { name: 'at', type: { type: 'long', logicalType: 'timestamp-millis' } },
        { name: 'tags', type: { type: 'array', items: 'string' } },
        { name: 'attrs', type: { type: 'map', values: ['null', 'long'] } },
        { name: 'status', type: { type: 'enum', name: 'Status', symbols: ['OPEN', 'CLOSED'] } },
        { name: 'note', type: ['null', 'string'], default: null },
        { name: 'statuses', type: { type: 'array', items: 'Status' } },
      ],
    });
    expect(out).toContain('export interface Entry {');
    for (const line of [
      '  id: string;',
      '  count: number;',
      '  total: number;',
      '  ratio: number;',
      '  ok: boolean;',
      '  raw: Buffer;',
      '  at: number;',
      '  tags: string[];',
      '  attrs: Record<string, number | null>;',
      '  status: Status;',
      '  note: string | null;',
      '  statuses: Status[];',
    ]) {
      expect(out).toContain(`${line}\n`);
    }
    expect(out).toContain("export type Status = 'OPEN' | 'CLOSED';");
  });

  it('fails naming the file on a reference to an unknown type', () => {
    expect(() => generate({ type: 'record', name: 'A', fields: [{ name: 'b', type: 'Nope' }] })).toThrow(
      /schemas\/x\.avsc: unknown type "Nope"/,
    );
  });
});
