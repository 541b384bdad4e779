import type { FastifyInstance, FastifyRequest } from 'fastify';
import { CAMPAIGN_STATUSES, type CampaignStatus } from '../campaigns/campaign.ts';
import { parseInviteFile } from '../campaigns/invites.ts';
import type { CampaignService } from '../campaigns/service.ts';
import { ValidationError } from '../lib/errors.ts';
import { AuthError, type TokenVerifier } from './auth.ts';
import { campaignParams, errorResponses } from './schemas.ts';

// The admin API: campaign managers (token role `admin`) apply campaign definitions, change the
// status and import invite lists. Same rules as `regflow campaign …` (both call CampaignService).

type CampaignRoute = { Params: { campaignId: string } };

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

  app.get<CampaignRoute>(
    '/v1/admin/campaigns/:campaignId',
    {
      onRequest: adminOnly,
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
      schema: {
        ...common,
        summary: 'Create or update a campaign from its definition (the campaign file format, as JSON)',
        body: { type: 'object', additionalProperties: true },
        response: {
          200: { type: 'object', properties: { outcome: { type: 'string' }, campaign } },
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
      const emails =
        typeof body === 'string'
          ? parseInviteFile(body)
          : parseInviteFile(
              Array.isArray(body?.emails) && body.emails.every((e) => typeof e === 'string')
                ? body.emails.join('\n')
                : (() => {
                    throw new ValidationError('emails', 'expected an array of email strings');
                  })(),
            );
      return deps.service.importInvites(request.params.campaignId, emails);
    },
  );
}
