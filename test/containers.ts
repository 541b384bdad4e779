import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { type Config, REPO_ROOT } from '../config/index.ts';
import { InfraError } from '../lib/errors.ts';
import { freePort } from '../lib/ports.ts';

// The tests' second source of services: containers started with testcontainers, where a Docker
// engine is reachable and REGFLOW_TEST_CONTAINERS asks for them (1, or auto). The default, and
// the only path on machines without Docker (where regflow is built and its CI runs), is the local
// processes of `npm run infra`. Images are the ones pinned in docker-compose.kafka.yml.
// testcontainers is imported only on this path, so the local path never loads it.

export type ServicesPath = 'local' | 'containers';
export type ServiceImage = 'kafka' | 'schema-registry' | 'dynamodb' | 's3' | 'mongodb' | 'redis';

/** Whether testcontainers finds a Docker engine (DOCKER_HOST, the socket, ~/.testcontainers.properties, …). */
export async function dockerReachable(): Promise<boolean> {
  try {
    const { getContainerRuntimeClient } = await import('testcontainers');
    await getContainerRuntimeClient();
    return true;
  } catch {
    return false;
  }
}

/** The path a test run takes, from REGFLOW_TEST_CONTAINERS and whether Docker answers. */
export function choosePath(mode: Config['testContainers'], reachable: boolean): ServicesPath {
  if (mode === 'off') return 'local';
  if (reachable) return 'containers';
  if (mode === 'auto') return 'local';
  throw new InfraError(
    'REGFLOW_TEST_CONTAINERS=1 asks for containers, but testcontainers finds no Docker engine (set DOCKER_HOST, or use 0 / auto for the local services)',
  );
}

export async function servicesPath(mode: Config['testContainers']): Promise<ServicesPath> {
  return mode === 'off' ? 'local' : choosePath(mode, await dockerReachable());
}

/** The images docker-compose.kafka.yml pins for the services (one place to upgrade them). */
export function composeImages(): Record<ServiceImage, string> {
  const compose = parse(readFileSync(join(REPO_ROOT, 'docker-compose.kafka.yml'), 'utf8'), {
    merge: true,
  }) as {
    services: Record<string, { image?: string }>;
  };
  const names: ServiceImage[] = ['kafka', 'schema-registry', 'dynamodb', 's3', 'mongodb', 'redis'];
  return Object.fromEntries(
    names.map((n) => {
      const image = compose.services[n]?.image;
      if (!image) throw new InfraError(`docker-compose.kafka.yml has no image for service ${n}`);
      return [n, image];
    }),
  ) as Record<ServiceImage, string>;
}

export interface StartedServices {
  /** The REGFLOW_* variables that point regflow (and the test workers) at the containers. */
  env: Record<string, string>;
  stop(): Promise<void>;
}

/** Starts the six services as containers, in parallel, and waits until each answers. */
export async function startContainers(): Promise<StartedServices> {
  const { GenericContainer, Wait, getContainerRuntimeClient } = await import('testcontainers');
  const images = composeImages();
  const host = (await getContainerRuntimeClient()).info.containerRuntime.host;
  // Kafka tells clients where to connect (advertised listener), so its port is fixed up front:
  // the same number inside and outside the container.
  const kafkaPort = await freePort();
  const [kafka, registry, dynamodb, s3, mongodb, redis] = await Promise.all([
    new GenericContainer(images.kafka)
      .withExposedPorts({ container: kafkaPort, host: kafkaPort })
      .withEnvironment({
        KAFKA_NODE_ID: '1',
        KAFKA_PROCESS_ROLES: 'broker,controller',
        KAFKA_CONTROLLER_QUORUM_VOTERS: '1@localhost:9093',
        KAFKA_LISTENERS: `PLAINTEXT://0.0.0.0:${kafkaPort},CONTROLLER://localhost:9093`,
        KAFKA_ADVERTISED_LISTENERS: `PLAINTEXT://${host}:${kafkaPort}`,
        KAFKA_LISTENER_SECURITY_PROTOCOL_MAP: 'PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT',
        KAFKA_CONTROLLER_LISTENER_NAMES: 'CONTROLLER',
        KAFKA_INTER_BROKER_LISTENER_NAME: 'PLAINTEXT',
        KAFKA_AUTO_CREATE_TOPICS_ENABLE: 'false',
        KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR: '1',
        KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR: '1',
        KAFKA_TRANSACTION_STATE_LOG_MIN_ISR: '1',
        KAFKA_GROUP_INITIAL_REBALANCE_DELAY_MS: '0',
      })
      .withWaitStrategy(Wait.forLogMessage(/Kafka Server started/))
      .start(),
    new GenericContainer(images['schema-registry'])
      .withExposedPorts(8080)
      .withEnvironment({ APICURIO_RULES_GLOBAL_COMPATIBILITY: 'BACKWARD' })
      .withWaitStrategy(Wait.forHttp('/apis/ccompat/v7/subjects', 8080).forStatusCode(200))
      .start(),
    new GenericContainer(images.dynamodb)
      .withCommand(['-jar', 'DynamoDBLocal.jar', '-inMemory', '-sharedDb'])
      .withExposedPorts(8000)
      .start(),
    new GenericContainer(images.s3).withExposedPorts(5000).start(),
    new GenericContainer(images.mongodb)
      .withExposedPorts(27017)
      .withWaitStrategy(Wait.forLogMessage(/Waiting for connections/))
      .start(),
    new GenericContainer(images.redis)
      .withCommand(['redis-server', '--save', '', '--appendonly', 'no'])
      .withExposedPorts(6379)
      .withWaitStrategy(Wait.forLogMessage(/Ready to accept connections/))
      .start(),
  ]);
  const at = (c: typeof registry, port: number) => `${c.getHost()}:${c.getMappedPort(port)}`;
  return {
    env: {
      REGFLOW_KAFKA_BROKERS: `${host}:${kafkaPort}`,
      REGFLOW_SCHEMA_REGISTRY_URL: `http://${at(registry, 8080)}/apis/ccompat/v7`,
      REGFLOW_DYNAMODB_ENDPOINT: `http://${at(dynamodb, 8000)}`,
      REGFLOW_S3_ENDPOINT: `http://${at(s3, 5000)}`,
      REGFLOW_MONGODB_URL: `mongodb://${at(mongodb, 27017)}/regflow`,
      REGFLOW_REDIS_URL: `redis://${at(redis, 6379)}`,
    },
    async stop() {
      await Promise.all([kafka, registry, dynamodb, s3, mongodb, redis].map((c) => c.stop()));
    },
  };
}
