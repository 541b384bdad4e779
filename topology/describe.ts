import { formatTable } from '../lib/format.ts';
import { schemaExists } from '../schemas/index.ts';
import {
  CleanupPolicy,
  deadLetterTopicName,
  type ProcessorSpec,
  retryTopicName,
  type TopicSpec,
  type Topology,
} from './types.ts';

// Read-only views of the topology: the topics it implies, its problems, and its description as
// text and as a Mermaid diagram (the README's diagram is generated, never drawn by hand).

const DAY_MS = 24 * 60 * 60 * 1000;
const RETRY_RETENTION_MS = 7 * DAY_MS;
// Longer than any retry tier: an operator needs time to look at a dead letter and re-drive it.
const DLT_RETENTION_MS = 30 * DAY_MS;

const KEBAB_CASE = /^[a-z][a-z0-9]*(-[a-z0-9]+)*$/;
const LEGAL_TOPIC = /^[A-Za-z0-9._-]{1,249}$/;

export interface InternalTopics {
  retry: TopicSpec[];
  deadLetter: TopicSpec;
}

/** The retry tiers and the dead-letter topic of one processor, sized like its widest input. */
export function internalTopicsOf(topology: Topology, processor: ProcessorSpec): InternalTopics {
  const inputs = processor.inputs.flatMap((name) => topology.topics.filter((t) => t.name === name));
  const partitions = Math.max(1, ...inputs.map((t) => t.partitions));
  // Retry and dead-letter records keep the original value bytes, so they carry the input's schema.
  const valueSchema = inputs[0]?.valueSchema ?? '';
  const base = { partitions, cleanupPolicy: CleanupPolicy.DELETE, valueSchema };
  return {
    retry: processor.retry.tierDelaysMs.map((delayMs, i) => ({
      ...base,
      name: retryTopicName(processor.name, i + 1),
      retentionMs: RETRY_RETENTION_MS,
      description: `retry tier ${i + 1} of ${processor.name}: records wait ${formatDuration(delayMs)} before the next attempt`,
    })),
    deadLetter: {
      ...base,
      name: deadLetterTopicName(processor.name),
      retentionMs: DLT_RETENTION_MS,
      description: `dead letters of ${processor.name}: records that failed permanently or ran out of retries`,
    },
  };
}

/** Every processor's retry-tier and dead-letter topics. */
export function internalTopics(topology: Topology): TopicSpec[] {
  return topology.processors.flatMap((p) => {
    const { retry, deadLetter } = internalTopicsOf(topology, p);
    return [...retry, deadLetter];
  });
}

/** The declared topics, then the internal ones: everything `regflow topics create` makes. */
export function allTopics(topology: Topology): TopicSpec[] {
  return [...topology.topics, ...internalTopics(topology)];
}

/**
 * Processors whose output includes `topic` (a processor also writes its own retry and
 * dead-letter topics), then the connectors that write it.
 */
export function producersOf(topology: Topology, topic: string): string[] {
  return [
    ...topology.processors
      .filter((p) => p.outputs.includes(topic) || isInternalOf(topology, p, topic))
      .map((p) => p.name),
    ...(topology.connectors ?? []).filter((c) => c.outputs.includes(topic)).map((c) => c.name),
  ];
}

/**
 * Consumer groups that read `topic`: the processors with it as input, and the owner of a retry
 * tier (a processor reads its own tiers under its own group id). Nobody consumes a DLT; it is
 * re-driven by hand.
 */
export function consumersOf(topology: Topology, topic: string): string[] {
  return topology.processors
    .filter(
      (p) => p.inputs.includes(topic) || internalTopicsOf(topology, p).retry.some((t) => t.name === topic),
    )
    .map((p) => p.name);
}

function isInternalOf(topology: Topology, processor: ProcessorSpec, topic: string): boolean {
  const { retry, deadLetter } = internalTopicsOf(topology, processor);
  return deadLetter.name === topic || retry.some((t) => t.name === topic);
}

export interface ValidateOptions {
  /** Whether `schemas/<name>.avsc` exists; tests substitute their own. */
  schemaExists?: (name: string) => boolean;
}

/** Human-readable problems with the topology; empty when it is sound. */
export function validateTopology(topology: Topology, options: ValidateOptions = {}): string[] {
  const hasSchema = options.schemaExists ?? schemaExists;
  const problems: string[] = [];
  const declared = new Set<string>();
  for (const t of topology.topics) {
    if (declared.has(t.name)) problems.push(`topic ${t.name} is declared more than once`);
    declared.add(t.name);
    if (!LEGAL_TOPIC.test(t.name)) {
      problems.push(
        `topic ${JSON.stringify(t.name)} is not a legal Kafka topic name ([A-Za-z0-9._-], 1-249)`,
      );
    }
    if (!Number.isInteger(t.partitions) || t.partitions < 1) {
      problems.push(`topic ${t.name} has ${t.partitions} partitions; it needs at least 1`);
    }
    if (!(t.retentionMs === -1 || (Number.isInteger(t.retentionMs) && t.retentionMs > 0))) {
      problems.push(
        `topic ${t.name} has retentionMs ${t.retentionMs}; use a positive number or -1 (forever)`,
      );
    }
    if (!hasSchema(t.valueSchema)) {
      problems.push(
        `topic ${t.name} has value schema ${JSON.stringify(t.valueSchema)}, but schemas/${t.valueSchema}.avsc does not exist`,
      );
    }
  }

  const names = new Set<string>();
  for (const p of topology.processors) {
    if (names.has(p.name)) problems.push(`processor ${p.name} is declared more than once`);
    names.add(p.name);
    if (!KEBAB_CASE.test(p.name)) {
      problems.push(
        `processor name ${JSON.stringify(p.name)} is not kebab-case (it becomes the group id and topic prefix)`,
      );
    }
    if (p.inputs.length === 0) problems.push(`processor ${p.name} has no inputs`);
    for (const input of p.inputs) {
      if (!declared.has(input))
        problems.push(`processor ${p.name} reads ${input}, which is not a declared topic`);
    }
    for (const c of p.continuations ?? []) {
      if (!p.inputs.includes(c) || !p.outputs.includes(c))
        problems.push(
          `processor ${p.name} lists ${c} as a continuation: it must be both an input and an output`,
        );
    }
    for (const output of p.outputs) {
      if (!declared.has(output))
        problems.push(`processor ${p.name} writes ${output}, which is not a declared topic`);
      if (p.inputs.includes(output) && !p.continuations?.includes(output))
        problems.push(`processor ${p.name} writes its own input ${output}`);
    }
    if (!Number.isInteger(p.retry.attempts) || p.retry.attempts < 1) {
      problems.push(`processor ${p.name} has retry.attempts ${p.retry.attempts}; it needs at least 1`);
    }
    for (const internal of [
      ...internalTopicsOf(topology, p).retry,
      internalTopicsOf(topology, p).deadLetter,
    ]) {
      if (declared.has(internal.name)) {
        problems.push(
          `topic ${internal.name} is declared, but the runtime owns it (a retry or dead-letter topic of ${p.name})`,
        );
      }
    }
  }

  for (const c of topology.connectors ?? []) {
    if (names.has(c.name))
      problems.push(`connector ${c.name} has the name of another processor or connector`);
    names.add(c.name);
    if (!KEBAB_CASE.test(c.name)) problems.push(`connector name ${JSON.stringify(c.name)} is not kebab-case`);
    for (const output of c.outputs) {
      if (!declared.has(output))
        problems.push(`connector ${c.name} writes ${output}, which is not a declared topic`);
    }
  }

  const produced = new Set([
    ...topology.processors.flatMap((p) => p.outputs),
    ...(topology.connectors ?? []).flatMap((c) => c.outputs),
  ]);
  for (const t of topology.topics) {
    const consumers = topology.processors.filter((p) => p.inputs.includes(t.name)).map((p) => p.name);
    if (consumers.length > 0 && !produced.has(t.name) && !t.external) {
      problems.push(
        `topic ${t.name} is read by ${consumers.join(', ')} but no processor writes it; add its producer or mark it external`,
      );
    }
  }
  return problems;
}

/** The topology as text: one block per processor, then every topic. */
export function describeTopology(topology: Topology): string {
  const blocks = topology.processors.map((p) => {
    const { retry, deadLetter } = internalTopicsOf(topology, p);
    const tiers = retry.map((t, i) => `${t.name} (after ${formatDuration(p.retry.tierDelaysMs[i] ?? 0)})`);
    const outputs = p.outputs.length > 0 ? p.outputs.join(', ') : '(no outputs)';
    return [
      `${p.name}: ${p.description}`,
      `  group   ${p.name}`,
      `  flow    ${p.inputs.join(', ')} → ${outputs}`,
      `  retry   ${p.retry.attempts} attempts in place (backoff ${formatDuration(p.retry.initialDelayMs)} up to ${formatDuration(p.retry.maxDelayMs)})`,
      ...tiers.map((t) => `          then ${t}`),
      `          then ${deadLetter.name}`,
    ].join('\n');
  });

  const connectorBlocks = (topology.connectors ?? []).map((c) =>
    [`${c.name} (connector): ${c.description}`, `  flow    ${c.source} → ${c.outputs.join(', ')}`].join('\n'),
  );

  const rows = allTopics(topology).map((t) => {
    const producers = producersOf(topology, t.name);
    return [
      t.name,
      String(t.partitions),
      t.cleanupPolicy,
      formatDuration(t.retentionMs),
      t.valueSchema,
      [...(t.external ? ['(external)'] : []), ...producers].join(', ') || '-',
      consumersOf(topology, t.name).join(', ') || '-',
    ];
  });
  const table = formatTable(
    ['topic', 'partitions', 'cleanup', 'retention', 'schema', 'written by', 'read by'],
    rows,
  );
  return [...blocks, ...connectorBlocks, table].join('\n\n');
}

/** A Mermaid flowchart: topics and processors as nodes, input → processor → output as edges. */
export function toMermaid(topology: Topology): string {
  const topicId = (name: string) => `t_${name.replace(/[^A-Za-z0-9]/g, '_')}`;
  const processorId = (name: string) => `p_${name.replace(/[^A-Za-z0-9]/g, '_')}`;
  const lines = ['flowchart LR', '  classDef external stroke-dasharray: 5 5'];
  for (const t of topology.topics) {
    lines.push(`  ${topicId(t.name)}[("${t.name}")]${t.external ? ':::external' : ''}`);
  }
  for (const p of topology.processors) lines.push(`  ${processorId(p.name)}["${p.name}"]`);
  const connectorId = (name: string) => `c_${name.replace(/[^A-Za-z0-9]/g, '_')}`;
  for (const c of topology.connectors ?? []) {
    lines.push(`  ${connectorId(c.name)}[/"${c.name}"/]`);
    for (const output of c.outputs) lines.push(`  ${connectorId(c.name)} --> ${topicId(output)}`);
  }
  for (const p of topology.processors) {
    for (const input of p.inputs) lines.push(`  ${topicId(input)} --> ${processorId(p.name)}`);
    for (const output of p.outputs) lines.push(`  ${processorId(p.name)} --> ${topicId(output)}`);
  }
  return `${lines.join('\n')}\n`;
}

/** 7d, 30s, 100ms, 1.5s; -1 is forever. */
export function formatDuration(ms: number): string {
  if (ms < 0) return 'forever';
  const units: [string, number][] = [
    ['d', DAY_MS],
    ['h', 3_600_000],
    ['min', 60_000],
    ['s', 1_000],
  ];
  for (const [unit, size] of units) {
    if (ms >= size && (ms % size === 0 || unit === 's')) return `${Number((ms / size).toFixed(2))}${unit}`;
  }
  return `${ms}ms`;
}
