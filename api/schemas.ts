// JSON schemas of the HTTP API: fastify validates requests with them (ajv, compiled once) and
// @fastify/swagger turns them into the OpenAPI document served at /openapi.json.

export const ID_PATTERN = '^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$';
export const USER_PATTERN = '^[A-Za-z0-9._:@-]{1,128}$';

export const entryParams = {
  type: 'object',
  required: ['campaignId', 'globalUserId'],
  properties: {
    campaignId: { type: 'string', pattern: ID_PATTERN },
    globalUserId: { type: 'string', pattern: USER_PATTERN, description: 'must be the token subject' },
  },
} as const;

export const campaignParams = {
  type: 'object',
  required: ['campaignId'],
  properties: { campaignId: { type: 'string', pattern: ID_PATTERN } },
} as const;

export const entryBody = {
  type: 'object',
  additionalProperties: false,
  required: ['email', 'markets'],
  properties: {
    email: { type: 'string', maxLength: 254 },
    firstName: { type: 'string', maxLength: 100 },
    lastName: { type: 'string', maxLength: 100 },
    phone: {
      type: 'string',
      maxLength: 32,
      description: 'national US format or +country code; stored as E.164',
    },
    postalCode: { type: 'string', maxLength: 10 },
    locale: { type: 'string', maxLength: 35 },
    markets: {
      type: 'array',
      minItems: 1,
      maxItems: 50,
      items: { type: 'string', pattern: ID_PATTERN },
      description: 'market ids of this campaign',
    },
    marketing: {
      type: 'object',
      additionalProperties: false,
      properties: { emailOptIn: { type: 'boolean' }, smsOptIn: { type: 'boolean' } },
    },
    doTransfer: { type: 'boolean', description: 'transfer from the linked campaign (linked-campaign gate)' },
  },
} as const;

const entry = {
  type: 'object',
  additionalProperties: true,
  properties: {
    campaignId: { type: 'string' },
    globalUserId: { type: 'string' },
    email: { type: 'string' },
    phone: { type: 'string' },
    locale: { type: 'string' },
    markets: { type: 'array', items: { type: 'string' } },
    linkedFrom: { type: 'string' },
    needsReplication: { type: 'boolean' },
    version: { type: 'number' },
    createdAt: { type: 'string' },
    date: {
      type: 'object',
      properties: { updated: { type: 'string' }, fanModified: { type: 'string' } },
    },
  },
} as const;

export const badRequest = {
  type: 'object',
  properties: {
    error: { type: 'string' },
    field: { type: 'string', description: 'the offending field (JSON path), or body / Authorization' },
    message: { type: 'string' },
  },
} as const;

export const eligible = {
  type: 'object',
  properties: {
    isEligible: { type: 'boolean', const: true },
    linkedCampaignId: { type: 'string' },
    entry,
  },
} as const;

export const ineligible = {
  type: 'object',
  properties: {
    isEligible: { type: 'boolean', const: false },
    reason: { type: 'string', enum: ['CAMPAIGN_CLOSED', 'NOT_INVITED', 'IDV_NOT_VERIFIED', 'INVALID_ENTRY'] },
    detail: {
      type: 'object',
      properties: {
        gateType: { type: 'string', enum: ['invite', 'linked'] },
        field: { type: 'string' },
        message: { type: 'string' },
      },
    },
  },
} as const;

export const entryResponse = { type: 'object', properties: { entry } } as const;

export const errorResponses = {
  400: { description: 'malformed JSON, wrong types, oversize body: names the field', ...badRequest },
  401: { description: 'missing or invalid token', ...badRequest },
  403: { description: "another fan's entry, or not an admin", ...badRequest },
  404: { description: 'unknown campaign or no entry', ...badRequest },
} as const;
