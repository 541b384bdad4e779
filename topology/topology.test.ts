import { describe, expect, it } from 'vitest';
import {
  consumersOf,
  describeTopology,
  formatDuration,
  internalTopics,
  toMermaid,
  validateTopology,
} from './describe.ts';
import { topology } from './index.ts';
import type { ProcessorSpec, TopicSpec, Topology } from './types.ts';

const topic = (name: string, extra: Partial<TopicSpec> = {}): TopicSpec => ({
  name,
  partitions: 3,
  cleanupPolicy: 'delete',
  retentionMs: 60_000,
  valueSchema: 'sample-event',
  description: name,
  ...extra,
});

const processor = (name: string, inputs: string[], outputs: string[]): ProcessorSpec => ({
  name,
  description: name,
  inputs,
  outputs,
  retry: { attempts: 3, initialDelayMs: 10, maxDelayMs: 100, tierDelaysMs: [1000] },
});

/** A sound two-step chain; each test breaks one thing. */
const chain = (): { topics: TopicSpec[]; processors: ProcessorSpec[] } => ({
  topics: [topic('a.in', { external: true }), topic('a.mid'), topic('a.out')],
  processors: [processor('first', ['a.in'], ['a.mid']), processor('second', ['a.mid'], ['a.out'])],
});

describe('the shipped topology', () => {
  it('has no problems', () => {
    expect(validateTopology(topology)).toEqual([]);
  });

  it('derives each processor its retry tiers and dead-letter topic, sized like its input', () => {
    const echo = internalTopics(topology).filter((t) => t.name.startsWith('echo.'));
    expect(echo.map((t) => [t.name, t.partitions, t.retentionMs])).toEqual([
      ['echo.retry-1', 6, 7 * 86_400_000],
      ['echo.retry-2', 6, 7 * 86_400_000],
      ['echo.dlt', 6, 30 * 86_400_000],
    ]);
    const partitionsOf = new Map(topology.topics.map((t) => [t.name, t.partitions]));
    for (const p of topology.processors) {
      const derived = internalTopics(topology).filter((t) => t.name.startsWith(`${p.name}.`));
      expect(derived.map((t) => t.name)).toEqual([
        ...p.retry.tierDelaysMs.map((_, i) => `${p.name}.retry-${i + 1}`),
        `${p.name}.dlt`,
      ]);
      const inputPartitions = Math.max(...p.inputs.map((i) => partitionsOf.get(i) ?? 0));
      expect(derived.every((t) => t.partitions === inputPartitions)).toBe(true);
    }
  });

  it('is described with its group, flow, retry policy and topics', () => {
    const text = describeTopology(topology);
    expect(text).toContain('group   echo');
    expect(text).toContain('sample.events → sample.events.echoed');
    expect(text).toContain('echo.retry-2 (after 30s)');
    expect(text).toMatch(/echo\.dlt\s+6\s+delete\s+30d\s+sample-event\s+echo/);
  });

  it('draws topics and processors joined by input and output edges, external topics dashed', () => {
    const mermaid = toMermaid(topology);
    expect(mermaid.startsWith('flowchart LR\n')).toBe(true);
    expect(mermaid).toContain('t_sample_events --> p_echo');
    expect(mermaid).toContain('p_echo --> t_sample_events_echoed');
    expect(mermaid).toContain('t_sample_events[("sample.events")]:::external');
  });
});

describe('validateTopology', () => {
  const problems = (t: Topology) => validateTopology(t, { schemaExists: (name) => name === 'sample-event' });

  it('accepts a sound chain', () => {
    expect(problems(chain())).toEqual([]);
  });

  it('reports a topic declared twice', () => {
    const t = chain();
    t.topics.push(topic('a.mid'));
    expect(problems(t)).toEqual(['topic a.mid is declared more than once']);
  });

  it('reports a processor declared twice', () => {
    const t = chain();
    t.processors.push(processor('second', ['a.mid'], ['a.out']));
    expect(problems(t)).toContain('processor second is declared more than once');
  });

  it('reports an output that is not a declared topic', () => {
    const t = chain();
    t.processors.push(processor('third', ['a.out'], ['a.nowhere']));
    expect(problems(t)).toEqual(['processor third writes a.nowhere, which is not a declared topic']);
  });

  it('reports an input that is not a declared topic', () => {
    const t = chain();
    t.processors.push(processor('third', ['a.nowhere'], []));
    expect(problems(t)).toEqual(['processor third reads a.nowhere, which is not a declared topic']);
  });

  it('reports a consumed topic that nothing produces and is not external', () => {
    const t = chain();
    t.topics[0] = topic('a.in');
    expect(problems(t)).toEqual([
      'topic a.in is read by first but no processor writes it; add its producer or mark it external',
    ]);
  });

  it('reports a value schema with no file under schemas/', () => {
    const t = chain();
    t.topics[2] = topic('a.out', { valueSchema: 'no-such-thing' });
    expect(problems(t)).toEqual([
      'topic a.out has value schema "no-such-thing", but schemas/no-such-thing.avsc does not exist',
    ]);
  });

  it('looks for schemas under schemas/ by default', () => {
    const t = chain();
    t.topics[2] = topic('a.out', { valueSchema: 'no-such-thing' });
    expect(validateTopology(t)).toHaveLength(1);
  });

  it('reports a name that is not kebab-case, a processor writing its input, and zero partitions', () => {
    const t = chain();
    t.processors.push(processor('Loop_Back', ['a.out'], ['a.out']));
    t.topics[1] = topic('a.mid', { partitions: 0 });
    expect(problems(t)).toEqual([
      'topic a.mid has 0 partitions; it needs at least 1',
      'processor name "Loop_Back" is not kebab-case (it becomes the group id and topic prefix)',
      'processor Loop_Back writes its own input a.out',
    ]);
  });

  it('lets a processor write an input it declares as a continuation, and checks the declaration', () => {
    const t = chain();
    t.processors.push({ ...processor('paging', ['a.out'], ['a.out']), continuations: ['a.out'] });
    expect(problems(t)).toEqual([]);
    t.processors.push({ ...processor('odd', ['a.out'], ['a.mid']), continuations: ['a.mid'] });
    expect(problems(t)).toEqual([
      'processor odd lists a.mid as a continuation: it must be both an input and an output',
    ]);
  });

  it('reports a declared topic that is a processor’s own retry or dead-letter topic', () => {
    const t = chain();
    t.topics.push(topic('first.dlt'));
    expect(problems(t)).toEqual([
      'topic first.dlt is declared, but the runtime owns it (a retry or dead-letter topic of first)',
    ]);
  });
});

describe('connectors', () => {
  const withConnector = (outputs: string[]): Topology => {
    const t = chain();
    t.topics[0] = topic('a.in');
    return { ...t, connectors: [{ name: 'source', description: 'source', source: 'outside', outputs }] };
  };
  const problems = (t: Topology) => validateTopology(t, { schemaExists: (name) => name === 'sample-event' });

  it('count as the producer of the topics they write', () => {
    expect(problems(withConnector(['a.in']))).toEqual([]);
    expect(describeTopology(withConnector(['a.in']))).toMatch(
      /a\.in\s+3\s+delete\s+1min\s+sample-event\s+source\s+first/,
    );
  });

  it('must write declared topics and have a name of their own', () => {
    const t = withConnector(['a.in', 'a.nowhere']);
    expect(
      problems({ ...t, connectors: [...t.connectors!, { ...t.connectors![0]!, name: 'first' }] }),
    ).toEqual([
      'connector source writes a.nowhere, which is not a declared topic',
      'connector first has the name of another processor or connector',
      'connector first writes a.nowhere, which is not a declared topic',
    ]);
  });

  it('are drawn as nodes with edges to their topics', () => {
    expect(toMermaid(withConnector(['a.in']))).toContain('c_source --> t_a_in');
  });

  it('ship the DynamoDB Streams connector writing demand.changes and its checkpoints', () => {
    expect(topology.connectors?.map((c) => [c.name, c.outputs])).toEqual([
      ['dynamodb-streams', ['demand.changes', 'connector.checkpoints']],
    ]);
    const checkpoints = topology.topics.find((t) => t.name === 'connector.checkpoints');
    expect([checkpoints?.partitions, checkpoints?.cleanupPolicy]).toEqual([1, 'compact']);
  });
});

describe('consumersOf', () => {
  it('counts a processor as the consumer of its own retry tiers but not of its dead letters', () => {
    const t = chain();
    expect(consumersOf(t, 'a.mid')).toEqual(['second']);
    expect(consumersOf(t, 'first.retry-1')).toEqual(['first']);
    expect(consumersOf(t, 'first.dlt')).toEqual([]);
  });
});

describe('formatDuration', () => {
  it.each([
    [100, '100ms'],
    [1_500, '1.5s'],
    [30_000, '30s'],
    [5_400_000, '90min'],
    [7 * 86_400_000, '7d'],
    [-1, 'forever'],
  ])('%d ms reads %s', (ms, text) => {
    expect(formatDuration(ms)).toBe(text);
  });
});
