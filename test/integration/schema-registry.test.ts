import { SchemaType } from '@kafkajs/confluent-schema-registry';
import { describe, expect, it } from 'vitest';
import { createSchemaRegistry } from '../../lib/clients.ts';
import { Codec } from '../../runtime/codec.ts';
import { config, uniqueName } from '../support.ts';

const registry = createSchemaRegistry(config.schemaRegistry);

const v1 = {
  type: 'record',
  name: 'SmokeEntry',
  namespace: 'regflow.smoke',
  fields: [
    { name: 'globalUserId', type: 'string' },
    { name: 'markets', type: { type: 'array', items: 'string' } },
  ],
};

describe('schema registry (Confluent API via @kafkajs/confluent-schema-registry)', () => {
  it('registers an Avro schema, encodes in the Confluent wire format and decodes it back', async () => {
    const subject = `${uniqueName('smoke.registry')}-value`;
    const { id } = await registry.register(
      { type: SchemaType.AVRO, schema: JSON.stringify(v1) },
      { subject },
    );
    expect(id).toBeGreaterThan(0);

    const payload = await registry.encode(id, { globalUserId: 'fan-1', markets: ['LA', 'NYC'] });
    expect(payload[0]).toBe(0); // magic byte
    expect(payload.readInt32BE(1)).toBe(id);
    expect(await registry.decode(payload)).toEqual({ globalUserId: 'fan-1', markets: ['LA', 'NYC'] });
    expect(await registry.getLatestSchemaId(subject)).toBe(id);
  });

  it('accepts a backward-compatible change and refuses an incompatible one', async () => {
    const subject = `${uniqueName('smoke.registry')}-value`;
    await registry.register({ type: SchemaType.AVRO, schema: JSON.stringify(v1) }, { subject });

    const withDefault = {
      ...v1,
      fields: [...v1.fields, { name: 'locale', type: 'string', default: 'en-US' }],
    };
    const { id: v2 } = await registry.register(
      { type: SchemaType.AVRO, schema: JSON.stringify(withDefault) },
      { subject },
    );
    expect(v2).toBeGreaterThan(0);

    const withoutDefault = { ...v1, fields: [...v1.fields, { name: 'score', type: 'double' }] };
    await expect(
      registry.register({ type: SchemaType.AVRO, schema: JSON.stringify(withoutDefault) }, { subject }),
    ).rejects.toThrow(/incompatible|compatib/i);
  });

  it('has BACKWARD as the global compatibility default', async () => {
    const res = await fetch(`${config.schemaRegistry.url}/config`);
    expect(await res.json()).toMatchObject({ compatibilityLevel: 'BACKWARD' });
  });
});

describe('Codec (the runtime’s decode path)', () => {
  it('treats an unknown schema id and a wrong magic byte as permanent decode errors', async () => {
    const { Codec, DecodeError } = await import('../../runtime/codec.ts');
    const { isRetriable } = await import('../../lib/errors.ts');
    const codec = new Codec(registry);
    const unknownId = Buffer.from([0, 0x7f, 0xff, 0xff, 0xf0, 2, 4]);
    const error = await codec.decode(unknownId).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DecodeError);
    expect(isRetriable(error)).toBe(false);
    await expect(codec.decode(Buffer.from('{"json":true}'))).rejects.toThrow(/magic byte/);
  });

  it('lets several processes register a new subject at the same time (each creates its compatibility rule)', async () => {
    const topic = uniqueName('smoke.concurrent');
    const codecs = Array.from({ length: 4 }, () => new Codec(createSchemaRegistry(config.schemaRegistry)));
    const ids = await Promise.all(codecs.map((c) => c.register(topic, v1)));
    expect(new Set(ids).size).toBe(1);
  });
});
