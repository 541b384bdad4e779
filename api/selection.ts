import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { SelectionAdmin } from '../selection/admin.ts';
import { AuthError, type TokenVerifier } from './auth.ts';
import { campaignParams, errorResponses } from './schemas.ts';

// Admin routes of selection (token role `admin`): code pool counts, run stats, and the trigger
// (same checks as `regflow select`: CLOSED campaign, replication caught up; 400 naming the field).

type CampaignRoute = { Params: { campaignId: string } };
type MarketRoute = { Params: { campaignId: string; marketId: string } };

export function registerSelectionRoutes(
  app: FastifyInstance,
  deps: { selection: SelectionAdmin; tokens: TokenVerifier },
): void {
  const adminOnly = async (request: FastifyRequest) => {
    const principal = await deps.tokens.verify(request.headers.authorization);
    if (principal.role !== 'admin') throw new AuthError(403, 'the admin API needs a token with role admin');
    request.principal = principal;
  };
  const common = { tags: ['admin'], security: [{ bearer: [] }] };
  const marketParams = {
    type: 'object',
    required: ['campaignId', 'marketId'],
    properties: { ...campaignParams.properties, marketId: campaignParams.properties.campaignId },
  } as const;
  const anyObject = { type: 'object', additionalProperties: true } as const;

  app.get<CampaignRoute>(
    '/v1/admin/campaigns/:campaignId/codes',
    {
      onRequest: adminOnly,
      schema: {
        ...common,
        params: campaignParams,
        summary: 'Code pools of a campaign: available / reserved / assigned per market',
        response: {
          200: { type: 'object', properties: { pools: { type: 'array', items: anyObject } } },
          ...errorResponses,
        },
      },
    },
    async (request) => ({ pools: await deps.selection.codeCounts(request.params.campaignId) }),
  );

  app.get<CampaignRoute>(
    '/v1/admin/campaigns/:campaignId/selections',
    {
      onRequest: adminOnly,
      schema: {
        ...common,
        params: campaignParams,
        summary: 'Stats of the selection runs of a campaign (selection.stats)',
        response: {
          200: { type: 'object', properties: { stats: { type: 'array', items: anyObject } } },
          ...errorResponses,
        },
      },
    },
    async (request) => ({ stats: await deps.selection.stats(request.params.campaignId) }),
  );

  app.post<MarketRoute & { Body: { winners: number } }>(
    '/v1/admin/campaigns/:campaignId/markets/:marketId/selections',
    {
      onRequest: adminOnly,
      schema: {
        ...common,
        params: marketParams,
        summary: 'Draw winners in a market (refused unless the campaign is CLOSED and replication caught up)',
        body: {
          type: 'object',
          additionalProperties: false,
          required: ['winners'],
          properties: { winners: { type: 'integer', minimum: 1 } },
        },
        response: { 202: anyObject, ...errorResponses },
      },
    },
    async (request, reply) => {
      const { campaignId, marketId } = request.params;
      const out = await deps.selection.requestSelection(
        campaignId,
        marketId,
        request.body.winners,
        `admin:${request.principal?.sub ?? 'unknown'}`,
      );
      return reply.code(202).send(out);
    },
  );
}
