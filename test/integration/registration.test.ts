import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ApiContext, createApi } from '../../api/app.ts';
import { signToken } from '../../api/auth.ts';
import { createLogger } from '../../lib/logger.ts';
import { validDefinition } from '../fixtures/campaigns.ts';
import { config, uniqueName } from '../support.ts';

// The registration API against the real services: FerretDB (campaigns), Redis (campaign cache),
// moto DynamoDB (demand table). Each run has its own database, key prefix and table.

const names = {
  database: uniqueName('reg').replace(/-/g, '_'),
  redisPrefix: `${uniqueName('reg')}:`,
  tableName: uniqueName('demand'),
};
const logger = createLogger('silent');
let api: ApiContext;
let other: ApiContext; // a second API replica on the same services

const secret = config.api.jwtSecret;
const token = (sub: string, claims: { idv?: boolean; role?: string } = {}) =>
  signToken(secret, { sub, ...claims });
const auth = async (sub: string, claims: { idv?: boolean; role?: string } = {}) => ({
  authorization: `Bearer ${await token(sub, claims)}`,
});

const entryBody = (email: string, patch: Record<string, unknown> = {}) => ({
  email,
  firstName: 'Ann',
  lastName: 'Lee',
  phone: '(212) 555-0100',
  postalCode: '10001',
  markets: ['nyc'],
  marketing: { emailOptIn: true, smsOptIn: false },
  ...patch,
});

async function register(
  instance: ApiContext,
  campaignId: string,
  fan: string,
  body: unknown,
  claims: { idv?: boolean } = {},
) {
  const res = await instance.app.inject({
    method: 'PUT',
    url: `/v1/campaigns/${campaignId}/entries/${fan}`,
    headers: await auth(fan, claims),
    payload: body as object,
  });
  return { status: res.statusCode, body: res.json() as Record<string, any> };
}

async function admin(instance: ApiContext, method: 'PUT' | 'POST', url: string, payload: unknown) {
  const res = await instance.app.inject({
    method,
    url,
    headers: await auth('manager-1', { role: 'admin' }),
    payload: payload as object,
  });
  return { status: res.statusCode, body: res.json() as Record<string, any> };
}

const def = (id: string, patch: Record<string, unknown> = {}) => ({ ...validDefinition(), id, ...patch });

beforeAll(async () => {
  api = await createApi(config, { ...names, logger });
  other = await createApi(config, { ...names, logger });
  const open = { gate: { inviteOnly: false, idvRequired: false } };
  expect((await admin(api, 'PUT', '/v1/admin/campaigns/fall-tour', def('fall-tour', open))).status).toBe(200);
  const spring = def('spring-tour', {
    gate: { inviteOnly: true, idvRequired: false, linkedCampaignId: 'fall-tour' },
    invites: ['fan-a@example.com'],
  });
  expect((await admin(api, 'PUT', '/v1/admin/campaigns/spring-tour', spring)).status).toBe(200);
  await admin(api, 'PUT', '/v1/admin/campaigns/open-tour', def('open-tour', open));
  await admin(
    api,
    'PUT',
    '/v1/admin/campaigns/idv-tour',
    def('idv-tour', { gate: { inviteOnly: false, idvRequired: true } }),
  );
  await admin(
    api,
    'PUT',
    '/v1/admin/campaigns/closed-tour',
    def('closed-tour', { ...open, status: 'CLOSED' }),
  );
});

afterAll(async () => {
  await other?.close();
  if (api) {
    const { MongoClient } = await import('mongodb');
    const client = new MongoClient(config.mongodb.url);
    await client
      .db(names.database)
      .dropDatabase()
      .catch(() => {});
    await client.close();
    const { DeleteTableCommand } = await import('@aws-sdk/client-dynamodb');
    const { createDynamoDb } = await import('../../lib/clients.ts');
    const dynamo = createDynamoDb(config.dynamodb);
    await dynamo.send(new DeleteTableCommand({ TableName: names.tableName })).catch(() => {});
    dynamo.destroy();
    await api.close();
  }
});

describe('Scenario 2: invite-only campaign with linked transfer', () => {
  it('admits invited Fan A, transfers Fan B with linkedFrom, refuses Fan C with gateType invite', async () => {
    const a = await register(api, 'spring-tour', 'fan-a', entryBody('Fan-A@example.com'));
    expect(a.status).toBe(200);
    expect(a.body.isEligible).toBe(true);
    expect(a.body.entry.linkedFrom).toBeUndefined();

    // Fan B: not invited, but registered in the linked campaign, asks for the transfer
    expect((await register(api, 'fall-tour', 'fan-b', entryBody('fan-b@example.com'))).status).toBe(200);
    const b = await register(
      api,
      'spring-tour',
      'fan-b',
      entryBody('fan-b@example.com', { doTransfer: true }),
    );
    expect(b.status).toBe(200);
    expect(b.body).toMatchObject({
      isEligible: true,
      linkedCampaignId: 'fall-tour',
      entry: { linkedFrom: 'fall-tour' },
    });
    const stored = await api.table.getEntry('fan-b', 'spring-tour');
    expect(stored).toMatchObject({ linkedFrom: 'fall-tour', needsReplication: true });

    // Fan C: neither invited nor in the linked campaign
    const c = await register(
      api,
      'spring-tour',
      'fan-c',
      entryBody('fan-c@example.com', { doTransfer: true }),
    );
    expect(c.status).toBe(422);
    expect(c.body).toEqual({ isEligible: false, reason: 'NOT_INVITED', detail: { gateType: 'invite' } });
    expect(await api.table.getEntry('fan-c', 'spring-tour')).toBeUndefined();
  });
});

describe('every ineligible reason', () => {
  it('CAMPAIGN_CLOSED', async () => {
    const r = await register(api, 'closed-tour', 'fan-d', entryBody('d@example.com'));
    expect(r).toEqual({ status: 422, body: { isEligible: false, reason: 'CAMPAIGN_CLOSED' } });
  });

  it('IDV_NOT_VERIFIED, unless the token says idv: true', async () => {
    const r = await register(api, 'idv-tour', 'fan-e', entryBody('e@example.com'));
    expect(r).toEqual({ status: 422, body: { isEligible: false, reason: 'IDV_NOT_VERIFIED' } });
    expect((await register(api, 'idv-tour', 'fan-e', entryBody('e@example.com'), { idv: true })).status).toBe(
      200,
    );
  });

  it('INVALID_ENTRY naming the field', async () => {
    const r = await register(api, 'open-tour', 'fan-f', entryBody('f@example.com', { postalCode: '<b>' }));
    expect(r.status).toBe(422);
    expect(r.body).toMatchObject({
      isEligible: false,
      reason: 'INVALID_ENTRY',
      detail: { field: 'postalCode' },
    });
    const missing = await register(api, 'open-tour', 'fan-f', entryBody('f@example.com', { lastName: ' ' }));
    expect(missing.body.detail.field).toBe('lastName');
    expect(await api.table.getEntry('fan-f', 'open-tour')).toBeUndefined();
  });

  it('a market outside the campaign', async () => {
    const r = await register(
      api,
      'open-tour',
      'fan-g',
      entryBody('g@example.com', { markets: ['nyc', 'tokyo'] }),
    );
    expect(r.body).toMatchObject({ reason: 'INVALID_ENTRY', detail: { field: 'markets[1]' } });
  });
});

describe('phones', () => {
  it.each([
    ['a US national format', '(415) 555-2671', 200, '+14155552671'],
    ['+44', '+44 7911 123456', 200, '+447911123456'],
    ['garbage', 'call me maybe', 422, undefined],
  ])('%s', async (_label, phone, status, e164) => {
    const fan = uniqueName('fan-phone');
    const r = await register(api, 'open-tour', fan, entryBody(`${fan}@example.com`, { phone }));
    expect(r.status).toBe(status);
    if (e164) expect((await api.table.getEntry(fan, 'open-tour'))?.phone).toBe(e164);
    else expect(r.body.detail).toMatchObject({ field: 'phone' });
  });
});

describe('the entry in DynamoDB', () => {
  it('is written with needsReplication, date.fanModified, date.updated and a growing version; read and withdrawn by its fan', async () => {
    const first = await register(api, 'open-tour', 'fan-h', entryBody('h@example.com'));
    const second = await register(
      api,
      'open-tour',
      'fan-h',
      entryBody('h@example.com', { postalCode: undefined }),
    );
    expect(second.status).toBe(200);
    const stored = await api.table.getEntry('fan-h', 'open-tour');
    expect(stored).toMatchObject({
      campaignId: 'open-tour',
      globalUserId: 'fan-h',
      email: 'h@example.com',
      needsReplication: true,
      date: { updated: expect.any(String), fanModified: expect.any(String) },
    });
    expect(stored).not.toHaveProperty('postalCode'); // the second write dropped it
    expect(stored!.version).toBeGreaterThan(first.body.entry.version);
    expect(stored!.createdAt).toBe(first.body.entry.createdAt);

    const read = await api.app.inject({
      method: 'GET',
      url: '/v1/campaigns/open-tour/entries/fan-h',
      headers: await auth('fan-h'),
    });
    expect(read.json().entry.version).toBe(stored!.version);

    const withdraw = () =>
      api.app.inject({
        method: 'DELETE',
        url: '/v1/campaigns/open-tour/entries/fan-h',
        headers: { authorization: '' },
      });
    expect((await withdraw()).statusCode).toBe(401);
    const del = await api.app.inject({
      method: 'DELETE',
      url: '/v1/campaigns/open-tour/entries/fan-h',
      headers: await auth('fan-h'),
    });
    expect(del.statusCode).toBe(204);
    expect(await api.table.getEntry('fan-h', 'open-tour')).toBeUndefined();
    const again = await api.app.inject({
      method: 'DELETE',
      url: '/v1/campaigns/open-tour/entries/fan-h',
      headers: await auth('fan-h'),
    });
    expect(again.statusCode).toBe(404);
  });

  it("refuses a fan writing, reading or withdrawing another fan's entry (403), writing nothing", async () => {
    await register(api, 'open-tour', 'fan-i', entryBody('i@example.com'));
    const before = await api.table.getEntry('fan-i', 'open-tour');
    for (const method of ['PUT', 'GET', 'DELETE'] as const) {
      const res = await api.app.inject({
        method,
        url: '/v1/campaigns/open-tour/entries/fan-i',
        headers: await auth('mallory'),
        ...(method === 'PUT' ? { payload: entryBody('mallory@example.com') } : {}),
      });
      expect(res.statusCode, method).toBe(403);
    }
    expect(await api.table.getEntry('fan-i', 'open-tour')).toEqual(before);
    expect(await api.table.getEntry('mallory', 'open-tour')).toBeUndefined();
  });
});

describe('bad input', () => {
  const put = async (payload: string, headers: Record<string, string> = {}) =>
    api.app.inject({
      method: 'PUT',
      url: '/v1/campaigns/open-tour/entries/fan-j',
      headers: { ...(await auth('fan-j')), 'content-type': 'application/json', ...headers },
      payload,
    });

  it('400 naming the field: malformed JSON, wrong types, unknown fields, oversize body', async () => {
    const cases: Array<[string, string]> = [
      ['{"email": ', 'body'],
      [JSON.stringify({ ...entryBody('j@example.com'), phone: 2125550100 }), 'phone'],
      [JSON.stringify({ ...entryBody('j@example.com'), markets: 'nyc' }), 'markets'],
      [
        JSON.stringify({ ...entryBody('j@example.com'), marketing: { emailOptIn: 'yes' } }),
        'marketing.emailOptIn',
      ],
      [JSON.stringify({ ...entryBody('j@example.com'), markets: [1] }), 'markets[0]'],
      [JSON.stringify({ ...entryBody('j@example.com'), isAdmin: true }), 'isAdmin'],
      [JSON.stringify({ markets: ['nyc'] }), 'email'],
      [JSON.stringify({ ...entryBody('j@example.com'), firstName: 'x'.repeat(20_000) }), 'body'],
      ['[]', 'body'],
    ];
    for (const [payload, field] of cases) {
      const res = await put(payload);
      expect(res.statusCode, payload.slice(0, 60)).toBe(400);
      expect(res.json().field, payload.slice(0, 60)).toBe(field);
    }
    expect(await api.table.getEntry('fan-j', 'open-tour')).toBeUndefined();
  });

  it('401 without a token, with a bad signature, an expired token or another algorithm', async () => {
    const good = await token('fan-j');
    const [h, p] = good.split('.');
    const expired = await signToken(secret, { sub: 'fan-j' }, Math.floor(Date.now() / 1000) - 60);
    const wrongKey = await signToken('another-secret-that-is-long-enough-xx', { sub: 'fan-j' });
    const none = `${Buffer.from('{"alg":"none"}').toString('base64url')}.${p}.`;
    for (const authorization of [
      '',
      'Bearer',
      `Basic ${good}`,
      `Bearer ${h}.${p}.AAAA`,
      `Bearer ${expired}`,
      `Bearer ${wrongKey}`,
      `Bearer ${none}`,
    ]) {
      const res = await put(JSON.stringify(entryBody('j@example.com')), { authorization });
      expect(res.statusCode, authorization.slice(0, 30)).toBe(401);
    }
  });

  it('404 for an unknown campaign', async () => {
    const res = await api.app.inject({
      method: 'PUT',
      url: '/v1/campaigns/no-such-campaign/entries/fan-j',
      headers: await auth('fan-j'),
      payload: entryBody('j@example.com'),
    });
    expect(res.statusCode).toBe(404);
    expect(res.json().field).toBe('campaignId');
  });

  it('the admin API needs role admin', async () => {
    const res = await api.app.inject({
      method: 'POST',
      url: '/v1/admin/campaigns/open-tour/status',
      headers: await auth('fan-j'),
      payload: { status: 'CLOSED' },
    });
    expect(res.statusCode).toBe(403);
    const refused = await admin(api, 'POST', '/v1/admin/campaigns/closed-tour/status', { status: 'ACTIVE' });
    expect(refused).toMatchObject({ status: 400, body: { field: 'status' } });
  });
});

describe('campaign cache', () => {
  it('a change made through one API replica is seen by the other at once', async () => {
    await admin(
      api,
      'PUT',
      '/v1/admin/campaigns/flip-tour',
      def('flip-tour', { gate: { inviteOnly: true, idvRequired: false } }),
    );
    // both replicas have the campaign in memory
    expect((await register(api, 'flip-tour', 'fan-k', entryBody('k@example.com'))).body.reason).toBe(
      'NOT_INVITED',
    );
    expect((await register(other, 'flip-tour', 'fan-k', entryBody('k@example.com'))).body.reason).toBe(
      'NOT_INVITED',
    );

    // invites imported through replica 1 (a text file): replica 2 admits the fan on its next request
    const imported = await api.app.inject({
      method: 'POST',
      url: '/v1/admin/campaigns/flip-tour/invites',
      headers: { ...(await auth('manager-1', { role: 'admin' })), 'content-type': 'text/plain' },
      payload: 'email\nK@example.com\n',
    });
    expect(imported.json()).toEqual({ added: 1, total: 1 });
    expect((await register(other, 'flip-tour', 'fan-k', entryBody('k@example.com'))).status).toBe(200);

    // closed through replica 2: replica 1 refuses at once
    expect(
      (await admin(other, 'POST', '/v1/admin/campaigns/flip-tour/status', { status: 'CLOSED' })).status,
    ).toBe(200);
    expect((await register(api, 'flip-tour', 'fan-k', entryBody('k@example.com'))).body.reason).toBe(
      'CAMPAIGN_CLOSED',
    );
  });

  it('refills Redis from MongoDB when the key is gone', async () => {
    const key = api.cache.key('open-tour');
    const { createRedis } = await import('../../lib/clients.ts');
    const redis = createRedis(config.redis);
    await redis.del(key);
    expect((await register(other, 'open-tour', 'fan-l', entryBody('l@example.com'))).status).toBe(200);
    expect(await redis.hget(key, 'v')).toBe(String((await api.store.get('open-tour'))!.version));
    redis.disconnect();
  });
});

describe('OpenAPI', () => {
  it('serves the document with the registration and admin paths', async () => {
    const doc = (await api.app.inject({ method: 'GET', url: '/openapi.json' })).json();
    expect(doc.openapi).toBe('3.1.0');
    expect(Object.keys(doc.paths)).toEqual(
      expect.arrayContaining([
        '/v1/campaigns/{campaignId}/entries/{globalUserId}',
        '/v1/admin/campaigns/{campaignId}/status',
      ]),
    );
  });
});
