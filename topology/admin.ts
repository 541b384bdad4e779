import kafkajs, { type Admin, type ITopicConfig } from 'kafkajs';
import { InfraError, RetriableError } from '../lib/errors.ts';
import { waitFor } from '../lib/retry.ts';
import { allTopics, consumersOf } from './describe.ts';
import type { TopicSpec, Topology } from './types.ts';

// Topics on the broker, made to match the topology. Existing topics are compared, never
// altered: shrinking partitions is impossible and adding them moves keys between partitions,
// which breaks per-key ordering, so an operator decides.

// kafkajs is CommonJS; Node's ESM loader does not see its enums as named exports.
const { ConfigResourceTypes } = kafkajs;

export type DriftField = 'partitions' | 'cleanup.policy' | 'retention.ms';

export interface Drift {
  topic: string;
  field: DriftField;
  expected: string;
  actual: string;
}

export interface EnsureReport {
  created: string[];
  ok: string[];
  drift: Drift[];
}

export interface EnsureOptions {
  /** Default: min(3, brokers in the cluster). */
  replicationFactor?: number;
  /** Broker-side timeout of each create request. */
  timeoutMs?: number;
}

/**
 * Creates one topic (false when it already existed) and waits until each of its partitions has a
 * leader. kafkajs's own `waitForLeaders` fails outright when a freshly started KRaft broker
 * answers the metadata request with UNKNOWN_TOPIC_OR_PARTITION for a moment; this asks again.
 */
export async function createTopic(admin: Admin, topic: ITopicConfig, timeoutMs = 10_000): Promise<boolean> {
  const isNew = await admin.createTopics({ topics: [topic], waitForLeaders: false, timeout: timeoutMs });
  const led = await waitFor(
    async () => {
      const { topics } = await admin.fetchTopicMetadata({ topics: [topic.topic] });
      const partitions = topics[0]?.partitions ?? [];
      return partitions.length > 0 && partitions.every((p) => p.leader >= 0);
    },
    { timeoutMs, intervalMs: 100 },
  );
  if (!led)
    throw new RetriableError(`topic ${topic.topic}: not every partition has a leader after ${timeoutMs} ms`);
  return isNew;
}

const configEntries = (spec: TopicSpec) => [
  { name: 'cleanup.policy', value: spec.cleanupPolicy },
  { name: 'retention.ms', value: String(spec.retentionMs) },
];

/** Creates the missing topics and reports how the existing ones differ from their specs. Idempotent. */
export async function ensureTopics(
  admin: Admin,
  specs: readonly TopicSpec[],
  options: EnsureOptions = {},
): Promise<EnsureReport> {
  const existing = new Set(await admin.listTopics());
  const missing = specs.filter((s) => !existing.has(s.name));
  let created: string[] = [];
  if (missing.length > 0) {
    const replicationFactor =
      options.replicationFactor ?? Math.min(3, (await admin.describeCluster()).brokers.length);
    // One request per topic: kafkajs answers `false` for a whole batch when any topic in it
    // already exists, and another process may create one between listTopics and here.
    const outcomes = await Promise.all(
      missing.map(async (spec) => {
        const isNew = await createTopic(
          admin,
          {
            topic: spec.name,
            numPartitions: spec.partitions,
            replicationFactor,
            configEntries: configEntries(spec),
          },
          options.timeoutMs ?? 10_000,
        );
        return isNew ? spec.name : undefined;
      }),
    );
    created = outcomes.filter((name) => name !== undefined);
  }
  // Topics that someone else created meanwhile are compared like the ones that were there.
  const present = specs.filter((s) => !created.includes(s.name));
  const drift = present.length > 0 ? await compare(admin, present) : [];
  const drifted = new Set(drift.map((d) => d.topic));
  return { created, ok: present.filter((s) => !drifted.has(s.name)).map((s) => s.name), drift };
}

async function compare(admin: Admin, specs: readonly TopicSpec[]): Promise<Drift[]> {
  const names = specs.map((s) => s.name);
  const { topics } = await admin.fetchTopicMetadata({ topics: names });
  const partitions = new Map(topics.map((t) => [t.name, t.partitions.length]));
  const { resources } = await admin.describeConfigs({
    includeSynonyms: false,
    resources: names.map((name) => ({
      type: ConfigResourceTypes.TOPIC,
      name,
      configNames: ['cleanup.policy', 'retention.ms'],
    })),
  });
  const configs = new Map<string, Map<string, string>>();
  for (const r of resources) {
    if (r.errorCode !== 0) {
      throw new InfraError(`cannot read the configuration of topic ${r.resourceName}: ${r.errorMessage}`);
    }
    configs.set(r.resourceName, new Map(r.configEntries.map((e) => [e.configName, e.configValue])));
  }

  const drift: Drift[] = [];
  for (const spec of specs) {
    const config = configs.get(spec.name);
    const actual: Record<DriftField, string> = {
      partitions: String(partitions.get(spec.name) ?? 0),
      'cleanup.policy': normalizePolicy(config?.get('cleanup.policy') ?? ''),
      'retention.ms': config?.get('retention.ms') ?? '',
    };
    const expected: Record<DriftField, string> = {
      partitions: String(spec.partitions),
      'cleanup.policy': normalizePolicy(spec.cleanupPolicy),
      'retention.ms': String(spec.retentionMs),
    };
    for (const field of Object.keys(expected) as DriftField[]) {
      if (expected[field] !== actual[field]) {
        drift.push({ topic: spec.name, field, expected: expected[field], actual: actual[field] });
      }
    }
  }
  return drift;
}

// The broker reports "compact,delete" and "delete,compact" alike.
const normalizePolicy = (policy: string) =>
  policy
    .split(',')
    .map((p) => p.trim())
    .filter(Boolean)
    .sort()
    .join(',');

export interface PartitionLag {
  topic: string;
  partition: number;
  /** The group's committed offset; -1 when it has committed none. */
  committed: number;
  low: number;
  high: number;
  lag: number;
}

type TopicOffsets = Awaited<ReturnType<Admin['fetchTopicOffsets']>>;

/** Per partition: the group's committed offset, the topic's low and high watermarks, and the lag. */
export async function topicLag(
  admin: Admin,
  groupId: string,
  topics: readonly string[],
): Promise<PartitionLag[]> {
  const offsets = await Promise.all(topics.map((t) => admin.fetchTopicOffsets(t)));
  const lags = await Promise.all(topics.map((t, i) => groupLag(admin, groupId, t, offsets[i] ?? [])));
  return lags.flat();
}

async function groupLag(
  admin: Admin,
  groupId: string,
  topic: string,
  offsets: TopicOffsets,
): Promise<PartitionLag[]> {
  const [committed] = await admin.fetchOffsets({ groupId, topics: [topic] });
  const byPartition = new Map((committed?.partitions ?? []).map((p) => [p.partition, Number(p.offset)]));
  return offsets
    .map(({ partition, low, high }) => {
      const at = byPartition.get(partition) ?? -1;
      const [lo, hi] = [Number(low), Number(high)];
      // No commit yet: the group starts from the earliest retained record. A commit below `low`
      // points at records retention already deleted; they can no longer be read, so they are not lag.
      const lag = at < 0 ? hi - lo : hi - Math.max(at, lo);
      return { topic, partition, committed: at, low: lo, high: hi, lag: Math.max(0, lag) };
    })
    .sort((a, b) => a.partition - b.partition);
}

export interface GroupLag {
  groupId: string;
  lag: number;
  partitions: PartitionLag[];
}

export interface TopicStatus {
  spec: TopicSpec;
  /** False when the topic is not on the broker yet (`regflow topics create`). */
  exists: boolean;
  partitions: number;
  /** Sum of the partitions' high watermarks: records ever written (committed), retained or not. */
  endOffsets: number;
  /** One entry per processor whose group reads the topic. */
  groups: GroupLag[];
}

/** Every topic of the topology with its size on the broker and the lag of each group that reads it. */
export async function listTopicsWithLag(admin: Admin, topology: Topology): Promise<TopicStatus[]> {
  const existing = new Set(await admin.listTopics());
  return Promise.all(
    allTopics(topology).map(async (spec): Promise<TopicStatus> => {
      if (!existing.has(spec.name)) return { spec, exists: false, partitions: 0, endOffsets: 0, groups: [] };
      const offsets = await admin.fetchTopicOffsets(spec.name);
      const groups = await Promise.all(
        consumersOf(topology, spec.name).map(async (groupId) => {
          const partitions = await groupLag(admin, groupId, spec.name, offsets);
          return { groupId, lag: partitions.reduce((sum, p) => sum + p.lag, 0), partitions };
        }),
      );
      return {
        spec,
        exists: true,
        partitions: offsets.length,
        endOffsets: offsets.reduce((sum, o) => sum + Number(o.high), 0),
        groups,
      };
    }),
  );
}
