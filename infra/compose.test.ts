import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { loadConfig, REPO_ROOT, VARIABLES } from '../config/index.ts';
import { PROCESSORS } from '../processors/index.ts';
import { topology } from '../topology/index.ts';

// docker-compose.kafka.yml cannot run here (no Docker engine): this keeps it valid, in step with
// docker.env, the config loader and the topology (every processor has a service that runs it).

interface ComposeService {
  image?: string;
  build?: string | { context: string };
  command?: string[];
  ports?: string[];
  environment?: Record<string, string | number>;
  depends_on?: string[] | Record<string, { condition: string }>;
  restart?: string;
  healthcheck?: { test?: string[]; disable?: boolean };
}
const compose = parse(readFileSync(join(REPO_ROOT, 'docker-compose.kafka.yml'), 'utf8'), {
  merge: true,
}) as { name: string; services: Record<string, ComposeService> };
const services = Object.entries(compose.services);
const dockerEnv = Object.fromEntries(
  readFileSync(join(REPO_ROOT, 'docker.env'), 'utf8')
    .split('\n')
    .filter((l) => /^[A-Z0-9_]+=/.test(l))
    .map((l) => l.split('=', 2) as [string, string]),
);

const SERVICES = ['kafka', 'schema-registry', 'dynamodb', 's3', 'mongodb', 'redis'];
const isRegflow = (svc: ComposeService) => svc.build !== undefined;
const regflowServices = services.filter(([, svc]) => isRegflow(svc));
const hostPorts = (svc: string) => (compose.services[svc]?.ports ?? []).map((p) => Number(p.split(':')[0]));
const containerPorts = (svc: string) =>
  (compose.services[svc]?.ports ?? []).map((p) => Number(p.split(':').at(-1)));
const portOf = (url: string) => Number(new URL(url).port);
const dependencies = (svc: ComposeService) =>
  Array.isArray(svc.depends_on) ? svc.depends_on : Object.keys(svc.depends_on ?? {});

describe('docker-compose.kafka.yml', () => {
  it('runs the services from pinned official images, the pipeline from this Dockerfile, and a Kafka UI', () => {
    for (const name of [...SERVICES, 'kafka-ui']) expect(compose.services[name], name).toBeDefined();
    for (const [name, svc] of services) {
      expect(svc.image ?? svc.build, `${name} has an image or a build`).toBeDefined();
      if (isRegflow(svc)) {
        expect(svc.build, name).toBe('.');
        expect(svc.image, name).toMatch(/^regflow:\d[\w.-]*$/);
        expect(svc.command?.length, `${name} names what it runs`).toBeGreaterThan(0);
      } else {
        expect(svc.image, name).toMatch(/^[a-z0-9./-]+:v?\d[\w.-]*$/);
      }
    }
  });

  it('has a service running every processor of the topology, and runs only known processors', () => {
    const running = new Map<string, string>();
    for (const [name, svc] of regflowServices) {
      if (svc.command?.[0] !== 'run') continue;
      for (const processor of svc.command.slice(1)) {
        expect(Object.keys(PROCESSORS), `${name} runs ${processor}`).toContain(processor);
        expect(running.get(processor), `${processor} runs in one service`).toBeUndefined();
        running.set(processor, name);
      }
    }
    const missing = topology.processors.map((p) => p.name).filter((p) => !running.has(p));
    expect(missing, 'processors of topology/ without a service').toEqual([]);
  });

  it('runs the connector, the schedulers, the API and the topics job', () => {
    const commands = regflowServices.map(([, svc]) => svc.command!.join(' '));
    expect(commands).toEqual(
      expect.arrayContaining(['connector run', 'schedulers run', 'api', 'topics create']),
    );
    const api = compose.services.api!;
    expect(api.ports).toContain(`3000:${api.environment?.REGFLOW_API_PORT}`);
  });

  it('is structurally valid: dependencies exist, one-shot jobs are awaited, health checks are commands', () => {
    const conditions = ['service_started', 'service_healthy', 'service_completed_successfully'];
    for (const [name, svc] of services) {
      for (const dep of dependencies(svc)) {
        expect(compose.services[dep], `${name} depends on ${dep}`).toBeDefined();
        expect(dep, `${name} depends on itself`).not.toBe(name);
      }
      if (svc.depends_on && !Array.isArray(svc.depends_on)) {
        for (const [dep, { condition }] of Object.entries(svc.depends_on)) {
          expect(conditions, `${name} → ${dep}`).toContain(condition);
          if (condition === 'service_healthy')
            expect(compose.services[dep]?.healthcheck?.test, `${dep} needs a health check`).toBeDefined();
          if (condition === 'service_completed_successfully')
            expect(compose.services[dep]?.restart, `${dep} is a one-shot job`).toBe('no');
        }
      }
      if (svc.healthcheck && !svc.healthcheck.disable) {
        expect(['CMD', 'CMD-SHELL'], name).toContain(svc.healthcheck.test?.[0]);
      }
    }
    // Ports published on the host are unique.
    const published = services.flatMap(([name]) => hostPorts(name));
    expect(new Set(published).size).toBe(published.length);
  });

  it("points the pipeline at the compose services with config/index.ts's variables", () => {
    for (const [name, svc] of regflowServices) {
      const env = Object.fromEntries(Object.entries(svc.environment ?? {}).map(([k, v]) => [k, String(v)]));
      for (const key of Object.keys(env)) expect(Object.keys(VARIABLES), `${name}: ${key}`).toContain(key);
      const config = loadConfig(env);
      const [kafkaHost, kafkaPort] = config.kafka.brokers[0]!.split(':');
      expect(kafkaHost).toBe('kafka');
      expect(String(compose.services.kafka!.environment?.KAFKA_LISTENERS)).toContain(`:${kafkaPort}`);
      const at = (url: string, service: string) => {
        const u = new URL(url.replace(/^(mongodb|redis):/, 'http:'));
        expect(u.hostname, `${name}: ${url}`).toBe(service);
        expect(containerPorts(service), `${name}: ${url}`).toContain(Number(u.port));
      };
      at(config.schemaRegistry.url, 'schema-registry');
      at(config.dynamodb.endpoint, 'dynamodb');
      at(config.s3.endpoint, 's3');
      at(config.mongodb.url, 'mongodb');
      at(config.redis.url, 'redis');
      expect(config.runtime.httpHost).toBe('0.0.0.0');
    }
    const ui = compose.services['kafka-ui']!.environment!;
    expect(ui.KAFKA_CLUSTERS_0_BOOTSTRAPSERVERS).toBe('kafka:29092');
    expect(ui.KAFKA_CLUSTERS_0_SCHEMAREGISTRY).toBe(
      compose.services.api!.environment!.REGFLOW_SCHEMA_REGISTRY_URL,
    );
  });

  it('has the connector stream the table the API writes: the configured one, no --table of its own', () => {
    const tableOf = (svc: string) =>
      loadConfig(
        Object.fromEntries(
          Object.entries(compose.services[svc]!.environment ?? {}).map(([k, v]) => [k, String(v)]),
        ),
      ).dynamodb.demandTable;
    const connector = compose.services.connector!;
    expect(connector.command).toEqual(['connector', 'run']);
    expect(tableOf('connector')).toBe(tableOf('api'));
    for (const [name, svc] of regflowServices)
      expect(svc.command?.includes('--table'), `${name} passes --table`).toBe(false);
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
