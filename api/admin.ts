import type { FastifyInstance, FastifyRequest } from 'fastify';
import { CAMPAIGN_STATUSES, type CampaignStatus } from '../campaigns/campaign.ts';
import { normalizeInvites, parseInviteFile } from '../campaigns/invites.ts';
import type { CampaignService } from '../campaigns/service.ts';
import { ValidationError } from '../lib/errors.ts';
import { AuthError, type TokenVerifier } from './auth.ts';
import { campaignParams, errorResponses } from './schemas.ts';

// The admin API: campaign managers (token role `admin`) apply campaign definitions, change the
// status and import invite lists. Same rules as `regflow campaign …` (both call CampaignService).

type CampaignRoute = { Params: { campaignId: string } };

/** Campaign files with many markets and invite files are bigger than a fan's entry. */
export const ADMIN_BODY_LIMIT = 4 * 1024 * 1024;

export function registerAdminRoutes(
  app: FastifyInstance,
  deps: { service: CampaignService; tokens: TokenVerifier },
): void {
  const adminOnly = async (request: FastifyRequest) => {
    const principal = await deps.tokens.verify(request.headers.authorization);
    if (principal.role !== 'admin') throw new AuthError(403, 'the admin API needs a token with role admin');
    request.principal = principal;
  };
  const common = { tags: ['admin'], security: [{ bearer: [] }], params: campaignParams };
  const campaign = { type: 'object', additionalProperties: true } as const;
  const instants = { type: 'array', items: { type: 'string', format: 'date-time' } } as const;
  /** What a definition's date.sendReminderEmails did (notifications/reminder-emails.ts). */
  const reminderEmails = {
    type: 'object',
    properties: {
      pending: instants,
      added: instants,
      cancelled: instants,
      alreadyTriggered: instants,
      changed: { type: 'boolean' },
    },
  } as const;

  app.get<CampaignRoute>(
    '/v1/admin/campaigns/:campaignId',
    {
      onRequest: adminOnly,
      bodyLimit: ADMIN_BODY_LIMIT,
      schema: { ...common, summary: 'Read a campaign', response: { 200: campaign, ...errorResponses } },
    },
    async (request, reply) => {
      const found = await deps.service.get(request.params.campaignId);
      if (!found)
        return reply
          .code(404)
          .send({ error: 'CAMPAIGN_NOT_FOUND', field: 'campaignId', message: 'no such campaign' });
      return found;
    },
  );

  app.put<CampaignRoute & { Body: Record<string, unknown> }>(
    '/v1/admin/campaigns/:campaignId',
    {
      onRequest: adminOnly,
      bodyLimit: ADMIN_BODY_LIMIT,
      schema: {
        ...common,
        summary: 'Create or update a campaign from its definition (the campaign file format, as JSON)',
        body: { type: 'object', additionalProperties: true },
        response: {
          200: { type: 'object', properties: { outcome: { type: 'string' }, campaign, reminderEmails } },
          ...errorResponses,
        },
      },
    },
    async (request) => {
      const body = request.body;
      if (body.id !== undefined && body.id !== request.params.campaignId)
        throw new ValidationError('id', 'must match the campaign id in the path');
      return deps.service.apply({ ...body, id: request.params.campaignId });
    },
  );

  app.post<CampaignRoute & { Body: { status: CampaignStatus } }>(
    '/v1/admin/campaigns/:campaignId/status',
    {
      onRequest: adminOnly,
      bodyLimit: ADMIN_BODY_LIMIT,
      schema: {
        ...common,
        summary: 'Change the status (DRAFT → ACTIVE ⇄ TRANSFERRING → CLOSED; closing records closedAt)',
        body: {
          type: 'object',
          additionalProperties: false,
          required: ['status'],
          properties: { status: { type: 'string', enum: [...CAMPAIGN_STATUSES] } },
        },
        response: {
          200: { type: 'object', properties: { outcome: { type: 'string' }, campaign } },
          ...errorResponses,
        },
      },
    },
    async (request) => deps.service.setStatus(request.params.campaignId, request.body.status),
  );

  app.post<CampaignRoute & { Body: { emails: string[] } | string }>(
    '/v1/admin/campaigns/:campaignId/invites',
    {
      onRequest: adminOnly,
      bodyLimit: ADMIN_BODY_LIMIT,
      schema: {
        ...common,
        summary: 'Import invites: JSON {emails: [...]} or a text/plain or text/csv invite file',
        response: {
          200: { type: 'object', properties: { added: { type: 'integer' }, total: { type: 'integer' } } },
          ...errorResponses,
        },
      },
    },
    async (request) => {
      const body = request.body;
      let emails: string[];
      if (typeof body === 'string') emails = parseInviteFile(body);
      else if (Array.isArray(body?.emails)) emails = normalizeInvites(body.emails);
      else throw new ValidationError('emails', 'expected {"emails": [...]} or a text/plain invite file');
      return deps.service.importInvites(request.params.campaignId, emails);
    },
  );
}
