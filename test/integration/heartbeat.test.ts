import { Writable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../config/index.ts';
import { waitFor } from '../../lib/retry.ts';
import { runProcessors } from '../../runtime/run-processor.ts';
import type { ProcessorDefinition } from '../../runtime/types.ts';
import { loadSchema } from '../../schemas/index.ts';
import type { SampleEvent } from '../../schemas/types.generated.ts';
import {
  createEchoTopics,
  type EchoTopics,
  kafka,
  produceEvents,
  readTopic,
  sampleEvents,
} from '../runtime-harness.ts';

// A handler that runs for minutes on one record (the selection planner over a million rows) keeps
// its group membership by calling ctx.heartbeat() while it works: with the shortest session
// timeout (6 s), a 15 s handler that heartbeats is never evicted and its record goes out once;
// the same handler without heartbeats is evicted and its member rejoins (what this replaces:
// session timeouts raised to outlast the longest handler).

const SESSION_MS = 6_000;
const HANDLER_MS = 15_000;
const admin = kafka.admin();

function slowEcho(t: EchoTopics, heartbeats: boolean): ProcessorDefinition<SampleEvent> {
  return {
    spec: {
      name: t.group,
      description: 'a slow echo',
      inputs: [t.input],
      outputs: [t.output],
      retry: { attempts: 1, initialDelayMs: 10, maxDelayMs: 10, tierDelaysMs: [] },
    },
    handler: async (record, ctx) => {
      const until = Date.now() + HANDLER_MS;
      while (Date.now() < until) {
        await sleep(200);
        if (heartbeats) await ctx.heartbeat?.();
      }
      return [{ topic: t.output, key: record.key, value: record.value }];
    },
    outputSchemas: { [t.output]: loadSchema('sample-event') },
  };
}

/** Runs the slow echo on one record; counts its member's group joins from the runtime's log. */
async function runSlow(heartbeats: boolean, until: (joins: () => number, t: EchoTopics) => Promise<void>) {
  const t = await createEchoTopics(admin, 1);
  await produceEvents(t.input, sampleEvents(1, 1));
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk, _enc, done) {
      lines.push(...chunk.toString().split('\n').filter(Boolean));
      done();
    },
  });
  const joins = () => lines.filter((l) => JSON.parse(l).msg === 'joined group').length;
  const running = await runProcessors({
    config: loadConfig({
      ...process.env,
      REGFLOW_KAFKA_SESSION_TIMEOUT_MS: String(SESSION_MS),
      REGFLOW_HTTP_PORT: '0',
    }),
    logger: pino({ level: 'info' }, sink),
    definitions: [slowEcho(t, heartbeats)],
  });
  try {
    await until(joins, t);
  } finally {
    await running.stop();
  }
  return { joins: joins(), topics: t };
}

beforeAll(() => admin.connect());
afterAll(() => admin.disconnect());

describe('ctx.heartbeat() in a long handler', () => {
  it('keeps the member in its group through a handler call 2.5 × the session timeout', async () => {
    const { joins, topics } = await runSlow(true, async (_joins, t) => {
      await readTopic(t.output, { atLeast: 1, timeoutMs: 90_000, settleMs: 500 });
    });
    expect(joins).toBe(1);
    const out = await readTopic(topics.output, { atLeast: 1, timeoutMs: 10_000, settleMs: 2_000 });
    expect(out.map((r) => r.value?.id)).toEqual(['e-0']);
  }, 150_000);

  it('without heartbeats the same handler is evicted and its member rejoins', async () => {
    const { joins } = await runSlow(false, async (n) => {
      await waitFor(async () => n() >= 2, { timeoutMs: 90_000, intervalMs: 250 });
    });
    expect(joins).toBeGreaterThanOrEqual(2);
  }, 150_000);
});
