import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { KAFKA_TOOLS, kafkaToolCommand, toolArgs } from '../../infra/kafka-tools.ts';
import { createKafka } from '../../lib/clients.ts';
import { config, uniqueName } from '../support.ts';

// Kafka's own tools (`npm run infra -- kafka <tool>`), from the jars resolved into the cache, on
// the real broker: the README's inspection commands.

const run = promisify(execFile);

async function tool(name: string, ...args: string[]): Promise<string> {
  const command = await kafkaToolCommand(config, name, args, () => {});
  return (await run(command.cmd, command.args, { timeout: 60_000 })).stdout;
}

describe('Kafka tools', () => {
  it('adds --bootstrap-server only when missing', () => {
    expect(toolArgs(['--list'], ['127.0.0.1:9092'])).toEqual([
      '--bootstrap-server',
      '127.0.0.1:9092',
      '--list',
    ]);
    expect(toolArgs(['--bootstrap-server', 'b:1', '--list'], ['a:1'])).toEqual([
      '--bootstrap-server',
      'b:1',
      '--list',
    ]);
    expect(Object.keys(KAFKA_TOOLS)).toEqual(
      expect.arrayContaining(['topics', 'consumer-groups', 'get-offsets']),
    );
  });

  it('describes a topic and a consumer group with its committed offsets and lag', async () => {
    const topic = uniqueName('tools');
    const group = uniqueName('tools-group');
    const kafka = createKafka(config.kafka);
    const admin = kafka.admin();
    await admin.connect();
    try {
      await admin.createTopics({ topics: [{ topic, numPartitions: 3 }], waitForLeaders: true });
      const producer = kafka.producer({ idempotent: true });
      await producer.connect();
      await producer.send({
        topic,
        messages: [0, 1, 2, 3, 4].map((i) => ({ key: `k${i}`, value: `v${i}` })),
      });
      await producer.disconnect();
      await admin.setOffsets({
        groupId: group,
        topic,
        partitions: [0, 1, 2].map((p) => ({ partition: p, offset: '0' })),
      });

      expect(await tool('topics', '--describe', '--topic', topic)).toMatch(/PartitionCount:\s*3/);
      const described = await tool('consumer-groups', '--describe', '--group', group);
      const lines = described.split('\n').filter((l) => l.includes(topic));
      expect(lines).toHaveLength(3);
      // Every record is behind the group's offsets: total lag 5.
      const lag = lines.reduce((sum, l) => sum + Number(l.trim().split(/\s+/)[5]), 0);
      expect(lag).toBe(5);
      expect(await tool('get-offsets', '--topic', topic)).toMatch(new RegExp(`${topic}:0:\\d+`));
    } finally {
      await admin.deleteGroups([group]).catch(() => {});
      await admin.deleteTopics({ topics: [topic] }).catch(() => {});
      await admin.disconnect();
    }
  }, 180_000);
});
