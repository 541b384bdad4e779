import { randomUUID } from 'node:crypto';
import type { Admin, Kafka, Producer } from 'kafkajs';
import type { Campaign } from '../campaigns/campaign.ts';
import { restoreCheckpoints } from '../connectors/dynamodb-streams/checkpoints.ts';
import type { Clock } from '../lib/clock.ts';
import { ValidationError } from '../lib/errors.ts';
import type { Codec } from '../runtime/codec.ts';
import type { SelectionRequest } from '../schemas/types.generated.ts';
import { topicLag } from '../topology/admin.ts';
import type { Topology } from '../topology/types.ts';

// The trigger of a draw (regflow select and the admin API): refuses, with a reason naming what is
// missing, unless the campaign is CLOSED and replication has caught up; then puts a request with a
// fresh run id on selection.requests (keyed campaign|market, so the waves of a market stay in order).
//
// "Caught up" means: (1) the DynamoDB Streams connector committed a checkpoint of every open shard
// after the close time (it has read everything written before the close), and (2) the replication
// consumer groups have no lag on their inputs.

/** The replication processors whose lag must be zero before a draw (spec: entry and scoring data complete). */
export const REPLICATION_GROUPS = ['entry-filter', 'entry-replicator', 'user-upserter'] as const;

export interface GroupCatchUp {
  group: string;
  state: 'caught-up' | 'lagging' | 'absent';
  lag: number;
}

/**
 * Lag of each named group on its topology inputs. A group not in the topology is reported
 * `absent` and counts as caught up (a deployment without that processor). A transactional input
 * leaves one commit marker after the last record, which a committed offset never passes: up to one
 * offset per partition is not counted as lag.
 */
export async function replicationLag(
  admin: Admin,
  topology: Topology,
  groups: readonly string[],
): Promise<GroupCatchUp[]> {
  return Promise.all(
    groups.map(async (group): Promise<GroupCatchUp> => {
      const spec = topology.processors.find((p) => p.name === group);
      if (!spec) return { group, state: 'absent', lag: 0 };
      const partitions = await topicLag(admin, group, spec.inputs);
      const lag = partitions.reduce((a, p) => a + Math.max(0, p.lag - (p.committed >= 0 ? 1 : 0)), 0);
      return { group, state: lag === 0 ? 'caught-up' : 'lagging', lag };
    }),
  );
}

export interface ConnectorCatchUp {
  ok: boolean;
  detail: string;
}

/** Whether the connector's checkpoints of every open shard were committed after `closedAt`. */
export async function connectorPastClose(
  kafka: Kafka,
  admin: Admin,
  codec: Codec,
  checkpointsTopic: string,
  connectorId: string,
  closedAt: Date,
): Promise<ConnectorCatchUp> {
  const { shards } = await restoreCheckpoints(kafka, admin, codec, checkpointsTopic, connectorId);
  if (shards.size === 0) return { ok: false, detail: `connector ${connectorId} has no checkpoint yet` };
  const open = [...shards.values()].filter((s) => !s.finished);
  const behind = open.filter((s) => s.updatedAt <= closedAt.getTime());
  if (behind.length > 0) {
    const newest = Math.max(...behind.map((s) => s.updatedAt));
    return {
      ok: false,
      detail: `connector ${connectorId}: ${behind.length} shard(s) last checkpointed at ${new Date(newest).toISOString()}, before the close at ${closedAt.toISOString()}`,
    };
  }
  return {
    ok: true,
    detail: `connector ${connectorId} checkpointed ${open.length} open shard(s) after the close`,
  };
}

export interface SelectionPreconditions {
  campaign: Campaign | undefined;
  connector: ConnectorCatchUp;
  groups: readonly GroupCatchUp[];
}

/** Throws a ValidationError naming the first unmet precondition; returns notes (absent groups) otherwise. */
export function checkPreconditions(
  campaignId: string,
  marketId: string,
  winners: number,
  p: SelectionPreconditions,
): string[] {
  if (!Number.isInteger(winners) || winners < 1)
    throw new ValidationError('winners', `expected an integer ≥ 1, got ${winners}`);
  const c = p.campaign;
  if (!c) throw new ValidationError('campaignId', `no campaign ${JSON.stringify(campaignId)}`);
  if (!c.markets.some((m) => m.id === marketId))
    throw new ValidationError(
      'marketId',
      `campaign ${campaignId} has no market ${JSON.stringify(marketId)} (has: ${c.markets.map((m) => m.id).join(', ')})`,
    );
  if (c.status !== 'CLOSED' || !c.closedAt)
    throw new ValidationError(
      'campaignId',
      `campaign ${campaignId} is ${c.status}: selection runs only on a CLOSED campaign`,
    );
  if (!p.connector.ok) throw new ValidationError('replication', `not caught up: ${p.connector.detail}`);
  const lagging = p.groups.filter((g) => g.state === 'lagging');
  if (lagging.length > 0)
    throw new ValidationError(
      'replication',
      `not caught up: ${lagging.map((g) => `${g.group} has ${g.lag} record(s) of lag`).join(', ')}`,
    );
  const absent = p.groups.filter((g) => g.state === 'absent').map((g) => g.group);
  return absent.length > 0
    ? [`replication groups not in the topology, treated as caught up: ${absent.join(', ')}`]
    : [];
}

/** Puts the request on the topic; returns it (with its run id). */
export async function sendSelectionRequest(
  producer: Producer,
  codec: Codec,
  topic: string,
  input: { campaignId: string; marketId: string; winners: number; requestedBy: string; runId?: string },
  clock: Clock,
): Promise<SelectionRequest> {
  const request: SelectionRequest = {
    runId: input.runId ?? randomUUID(),
    campaignId: input.campaignId,
    marketId: input.marketId,
    winners: input.winners,
    requestedAt: clock.now().getTime(),
    requestedBy: input.requestedBy,
    page: null,
  };
  await producer.send({
    topic,
    messages: [
      { key: `${request.campaignId}|${request.marketId}`, value: await codec.encode(topic, request) },
    ],
  });
  return request;
}
