import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { CampaignReader } from '../campaigns/cache.ts';
import type { NormalizedEntry } from '../registration/eligibility.ts';
import {
  checkEligibility,
  type EntrySubmission,
  inviteKey,
  needsLinkedEntryLookup,
} from '../registration/eligibility.ts';
import type { StoredEntry } from '../stores/demand-table.ts';
import type { Principal, TokenVerifier } from './auth.ts';
import { AuthError } from './auth.ts';
import { eligible, entryBody, entryParams, entryResponse, errorResponses, ineligible } from './schemas.ts';

// The registration API (the spec's upsertEntry + checkEligibility), plus reading and withdrawing
// one's own entry. A fan is the subject of their token and can only touch
// /v1/campaigns/{campaignId}/entries/{their globalUserId}.

/** The demand table as the API uses it. */
export interface EntryTable {
  getEntry(globalUserId: string, campaignId: string): Promise<StoredEntry | undefined>;
  hasEntry(globalUserId: string, campaignId: string): Promise<boolean>;
  putEntry(globalUserId: string, campaignId: string, entry: NormalizedEntry): Promise<StoredEntry>;
  deleteEntry(globalUserId: string, campaignId: string): Promise<StoredEntry | undefined>;
}

export interface RegistrationDeps {
  campaigns: CampaignReader;
  entries: EntryTable;
  tokens: TokenVerifier;
}

type EntryRoute = { Params: { campaignId: string; globalUserId: string }; Body: EntrySubmission };

declare module 'fastify' {
  interface FastifyRequest {
    principal?: Principal;
  }
}

export function registerRegistrationRoutes(app: FastifyInstance, deps: RegistrationDeps): void {
  // Authenticate before the body is even read: bad tokens cost nothing.
  const ownEntryOnly = async (request: FastifyRequest<EntryRoute>) => {
    const principal = await deps.tokens.verify(request.headers.authorization);
    if (request.params.globalUserId !== principal.sub)
      throw new AuthError(403, "a fan can only touch their own entry (globalUserId must be the token's sub)");
    request.principal = principal;
  };

  const notFound = (reply: FastifyReply, campaignId: string) =>
    reply
      .code(404)
      .send({ error: 'CAMPAIGN_NOT_FOUND', field: 'campaignId', message: `no campaign ${campaignId}` });

  app.put<EntryRoute>(
    '/v1/campaigns/:campaignId/entries/:globalUserId',
    {
      onRequest: ownEntryOnly,
      schema: {
        summary: 'Register or change an entry (upsertEntry with checkEligibility)',
        tags: ['registration'],
        security: [{ bearer: [] }],
        params: entryParams,
        body: entryBody,
        response: {
          200: { description: 'eligible: the entry as written (needsReplication: true)', ...eligible },
          422: { description: 'not eligible: reason and detail', ...ineligible },
          ...errorResponses,
        },
      },
    },
    async (request, reply) => {
      const { campaignId, globalUserId } = request.params;
      const cached = await deps.campaigns.get(campaignId);
      if (!cached) return notFound(reply, campaignId);
      const { campaign } = cached;
      const submission = request.body;
      const invited = campaign.gate.inviteOnly && cached.invites.has(inviteKey(submission));
      const linkedId = campaign.gate.linkedCampaignId;
      // Linked-campaign gate: the fan's entry there is read from the demand table itself (one
      // consistent GetItem on the fan's partition), not the entry store, which lags by replication.
      const hasLinkedEntry =
        linkedId && needsLinkedEntryLookup(campaign, submission, invited)
          ? await deps.entries.hasEntry(globalUserId, linkedId)
          : undefined;
      const result = checkEligibility(
        campaign,
        { globalUserId, idvVerified: request.principal?.idv === true },
        submission,
        hasLinkedEntry === undefined ? { invited } : { invited, hasLinkedEntry },
      );
      if (!result.isEligible) return reply.code(422).send(result);
      const entry = await deps.entries.putEntry(globalUserId, campaignId, result.entry);
      return reply.code(200).send({
        isEligible: true,
        ...(result.linkedCampaignId ? { linkedCampaignId: result.linkedCampaignId } : {}),
        entry,
      });
    },
  );

  app.get<EntryRoute>(
    '/v1/campaigns/:campaignId/entries/:globalUserId',
    {
      onRequest: ownEntryOnly,
      schema: {
        summary: "Read one's own entry",
        tags: ['registration'],
        security: [{ bearer: [] }],
        params: entryParams,
        response: { 200: entryResponse, ...errorResponses },
      },
    },
    async (request, reply) => {
      const { campaignId, globalUserId } = request.params;
      const entry = await deps.entries.getEntry(globalUserId, campaignId);
      if (!entry)
        return reply.code(404).send({ error: 'ENTRY_NOT_FOUND', field: 'campaignId', message: 'no entry' });
      return { entry };
    },
  );

  app.delete<EntryRoute>(
    '/v1/campaigns/:campaignId/entries/:globalUserId',
    {
      onRequest: ownEntryOnly,
      schema: {
        summary:
          "Withdraw one's own entry (refused once the campaign is CLOSED: selection reads closed campaigns)",
        tags: ['registration'],
        security: [{ bearer: [] }],
        params: entryParams,
        response: {
          204: { description: 'withdrawn', type: 'null' },
          409: { description: 'campaign closed', ...ineligible },
          ...errorResponses,
        },
      },
    },
    async (request, reply) => {
      const { campaignId, globalUserId } = request.params;
      const cached = await deps.campaigns.get(campaignId);
      if (!cached) return notFound(reply, campaignId);
      if (cached.campaign.status === 'CLOSED')
        return reply.code(409).send({ isEligible: false, reason: 'CAMPAIGN_CLOSED' });
      const deleted = await deps.entries.deleteEntry(globalUserId, campaignId);
      if (!deleted)
        return reply.code(404).send({ error: 'ENTRY_NOT_FOUND', field: 'campaignId', message: 'no entry' });
      return reply.code(204).send();
    },
  );
}
