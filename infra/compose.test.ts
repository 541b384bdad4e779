import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { loadConfig, REPO_ROOT } from '../config/index.ts';

// docker-compose.kafka.yml cannot run here (no Docker engine): this keeps it valid and in step
// with docker.env and the config loader.

interface ComposeService {
  image: string;
  ports?: string[];
}
const compose = parse(readFileSync(join(REPO_ROOT, 'docker-compose.kafka.yml'), 'utf8')) as {
  services: Record<string, ComposeService>;
};
const dockerEnv = Object.fromEntries(
  readFileSync(join(REPO_ROOT, 'docker.env'), 'utf8')
    .split('\n')
    .filter((l) => /^[A-Z0-9_]+=/.test(l))
    .map((l) => l.split('=', 2) as [string, string]),
);

const hostPorts = (svc: string) => (compose.services[svc]?.ports ?? []).map((p) => Number(p.split(':')[0]));
const portOf = (url: string) => Number(new URL(url).port);

describe('docker-compose.kafka.yml', () => {
  it('runs every service from a pinned official image', () => {
    expect(Object.keys(compose.services).sort()).toEqual([
      'dynamodb',
      'kafka',
      'mongodb',
      'redis',
      's3',
      'schema-registry',
    ]);
    for (const [name, svc] of Object.entries(compose.services)) {
      expect(svc.image, name).toMatch(/^[a-z0-9./-]+:\d[\w.-]*$/);
    }
  });

  it('publishes the ports docker.env points regflow at, and docker.env passes the config loader', () => {
    const config = loadConfig(dockerEnv);
    expect(hostPorts('kafka')).toContain(Number(config.kafka.brokers[0]!.split(':')[1]));
    expect(hostPorts('schema-registry')).toContain(portOf(config.schemaRegistry.url));
    expect(hostPorts('dynamodb')).toContain(portOf(config.dynamodb.endpoint));
    expect(hostPorts('s3')).toContain(portOf(config.s3.endpoint));
    expect(hostPorts('mongodb')).toContain(portOf(config.mongodb.url.replace('mongodb:', 'http:')));
    expect(hostPorts('redis')).toContain(portOf(config.redis.url.replace('redis:', 'http:')));
    for (const svc of [
      config.kafka,
      config.schemaRegistry,
      config.dynamodb,
      config.s3,
      config.mongodb,
      config.redis,
    ]) {
      expect(svc.external).toBe(true);
    }
  });
});
