import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../config/index.ts';
import { createLogger } from '../../lib/logger.ts';
import { echoProcessor } from '../../processors/echo/processor.ts';
import { runProcessors } from '../../runtime/run-processor.ts';
import type { ProcessorSpec } from '../../topology/types.ts';
import {
  createEchoTopics,
  type EchoTopics,
  idsOf,
  kafka,
  produceEvents,
  readTopic,
  sampleEvents,
} from '../runtime-harness.ts';

// Processors in one process (`regflow run a b`, npm start's processors process) share one Kafka
// admin client and one schema registry client (runtime/run-processor.ts): each group still reads
// its own committed offsets and fences its own partitions through the shared admin, and a missing
// topic of any of them is named at start.

const admin = kafka.admin();
const specOf = (t: EchoTopics): ProcessorSpec => ({
  name: t.group,
  description: 'echo on test topics',
  inputs: [t.input],
  outputs: [t.output],
  retry: { attempts: 2, initialDelayMs: 10, maxDelayMs: 20, tierDelaysMs: [] },
  effects: [],
});
const config = () => loadConfig({ ...process.env, REGFLOW_HTTP_PORT: '0' });
const logger = createLogger('warn');

beforeAll(() => admin.connect());
afterAll(() => admin.disconnect());

describe('processors sharing one process', () => {
  it('each forwards its own records exactly once, through the one admin and registry', async () => {
    const a = await createEchoTopics(admin, 2);
    const b = await createEchoTopics(admin, 2);
    const eventsA = sampleEvents(40, 8);
    const eventsB = sampleEvents(30, 6);
    await produceEvents(a.input, eventsA);
    await produceEvents(b.input, eventsB);
    const running = await runProcessors({
      config: config(),
      logger,
      definitions: [echoProcessor(specOf(a)), echoProcessor(specOf(b))],
    });
    try {
      const [outA, outB] = await Promise.all([
        readTopic(a.output, { atLeast: eventsA.length, settleMs: 1_500, timeoutMs: 60_000 }),
        readTopic(b.output, { atLeast: eventsB.length, settleMs: 1_500, timeoutMs: 60_000 }),
      ]);
      expect(idsOf(outA)).toEqual(eventsA.map((e) => e.id).sort());
      expect(idsOf(outB)).toEqual(eventsB.map((e) => e.id).sort());
      // Each group committed its own offsets (read through the shared admin when its producers opened).
      for (const t of [a, b]) {
        const [offsets] = await admin.fetchOffsets({ groupId: t.group, topics: [t.input] });
        const committed = offsets!.partitions.reduce((n, p) => n + Number(p.offset), 0);
        expect(committed, t.group).toBe(t === a ? eventsA.length : eventsB.length);
      }
    } finally {
      await running.stop();
    }
  });

  it('names a topic of the second processor that does not exist, and stops the first', async () => {
    const a = await createEchoTopics(admin, 1);
    const b = await createEchoTopics(admin, 1);
    const missing = { ...specOf(b), inputs: [`${b.input}-missing`] };
    await expect(
      runProcessors({
        config: config(),
        logger,
        definitions: [echoProcessor(specOf(a)), echoProcessor(missing)],
      }),
    ).rejects.toThrow(`missing topic(s) ${b.input}-missing`);
    // The first processor left its group when the start failed.
    const { groups } = await admin.describeGroups([a.group]);
    expect(groups[0]?.members ?? []).toHaveLength(0);
  });
});
