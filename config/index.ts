import { homedir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { parseClock } from '../lib/clock.ts';
import { ConfigError, ValidationError } from '../lib/errors.ts';

// The one config loader: reads REGFLOW_* once, validates, freezes. Everything else receives a
// typed slice of the result. A bad value fails at start with the variable's name and the reason.

export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');

const hostPort = z.string().regex(/^[A-Za-z0-9.\-[\]:]+:\d{1,5}$/, 'expected host:port');
const httpUrl = z
  .string()
  .url('expected a URL')
  .refine((u) => /^https?:\/\//.test(u), 'expected an http(s):// URL');
const intIn = (min: number, max: number) =>
  z
    .string()
    .regex(/^\d+$/, 'expected a whole number')
    .transform(Number)
    .refine((n) => n >= min && n <= max, `expected ${min} to ${max}`);
const logLevel = z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']);

/** Every variable regflow reads, with its default and what it means (the README lists these). */
export const VARIABLES = {
  REGFLOW_KAFKA_BROKERS: {
    default: '127.0.0.1:9092',
    doc: 'Kafka bootstrap brokers, comma-separated host:port. Set it to use an existing cluster (infra then starts no Kafka).',
  },
  REGFLOW_KAFKA_CLIENT_ID: { default: 'regflow', doc: 'Kafka client id prefix.' },
  REGFLOW_SCHEMA_REGISTRY_URL: {
    default: 'http://127.0.0.1:8081/apis/ccompat/v7',
    doc: 'Confluent-compatible schema registry base URL. Set it to use an existing registry.',
  },
  REGFLOW_DYNAMODB_ENDPOINT: {
    default: 'http://127.0.0.1:4566',
    doc: 'DynamoDB (and DynamoDB Streams) endpoint. Set it to use an existing endpoint.',
  },
  REGFLOW_S3_ENDPOINT: {
    default: 'http://127.0.0.1:4566',
    doc: 'S3 endpoint (the CRM export bucket). Locally the same moto server as DynamoDB.',
  },
  REGFLOW_AWS_REGION: { default: 'us-east-1', doc: 'AWS region for the DynamoDB and S3 clients.' },
  REGFLOW_MONGODB_URL: {
    default: 'mongodb://127.0.0.1:27017/regflow',
    doc: 'MongoDB connection string, database in the path. Set it to use an existing server.',
  },
  REGFLOW_REDIS_URL: {
    default: 'redis://127.0.0.1:6379',
    doc: 'Redis URL. Set it to use an existing server.',
  },
  REGFLOW_DYNAMODB_REQUEST_TIMEOUT_MS: {
    default: '10000',
    doc: 'DynamoDB and Streams clients: most time a request may wait for its answer (and a socket may stay silent) before it fails retriably.',
  },
  REGFLOW_DYNAMODB_CONNECT_TIMEOUT_MS: {
    default: '3000',
    doc: 'DynamoDB and Streams clients: most time to open a connection to the endpoint.',
  },
  REGFLOW_MONGODB_SOCKET_TIMEOUT_MS: {
    default: '60000',
    doc: 'MongoDB: most time a socket may wait for an answer before the operation fails retriably (room for long counts on FerretDB).',
  },
  REGFLOW_MONGODB_SERVER_SELECTION_TIMEOUT_MS: {
    default: '3000',
    doc: 'MongoDB: most time an operation waits for a reachable server before it fails retriably.',
  },
  REGFLOW_REDIS_COMMAND_TIMEOUT_MS: {
    default: '5000',
    doc: 'Redis: most time a command may wait for its reply before it fails retriably.',
  },
  REGFLOW_HTTP_HOST: {
    default: '127.0.0.1',
    doc: "Address the processors' /healthz, /readyz, /metrics listen on.",
  },
  REGFLOW_HTTP_PORT: {
    default: '9464',
    doc: 'Port of /healthz, /readyz, /metrics of a processor process (0 = any free port, logged at start).',
  },
  REGFLOW_KAFKA_SESSION_TIMEOUT_MS: {
    default: '30000',
    doc: 'Consumer group session timeout: how long a silent processor keeps its partitions.',
  },
  REGFLOW_CLOCK: {
    default: 'system',
    doc: 'The clock every time decision reads (notification planning, polls, exports, scheduler ticks): `system`, or `simulated:<ISO start>[,speed=N][,anchor=EPOCH_MS]` for tests and the demo (speed 1440 = a day per minute; processes given the same start, speed and anchor share one time line). `regflow run --clock` and `regflow schedulers run --clock` override it.',
  },
  REGFLOW_BATCH_MAX_RECORDS: {
    default: '2000',
    doc: 'Most records a processor handles in one Kafka transaction.',
  },
  REGFLOW_SCHEDULER_LEASE_TTL_MS: {
    default: '10000',
    doc: 'Schedulers: TTL of the Redis leader lease; a dead leader is replaced within about this long.',
  },
  REGFLOW_SCHEDULER_CATCH_UP_MAX: {
    default: '12',
    doc: 'Schedulers: most missed ticks per schedule fired when a leader starts (older ones are skipped and counted).',
  },
  REGFLOW_NOTIFICATION_SEND_RATE: {
    default: '1000',
    doc: "plan-sends: reminders the SMS sender delivers per hour; sizes each market's send window.",
  },
  REGFLOW_PAGERDUTY_URL: {
    default: 'https://events.pagerduty.com/v2/enqueue',
    doc: 'PagerDuty Events API v2 (or compatible) endpoint where the notification generator opens an incident on a total failure.',
  },
  REGFLOW_PAGERDUTY_ROUTING_KEY: {
    default: '',
    doc: 'Routing (integration) key of those incidents. Empty: no incident is sent, the failure is only logged at error level.',
  },
  REGFLOW_CRM_BUCKET: {
    default: 'regflow-crm-exports',
    doc: 'S3 bucket of the CRM team where the email reminder exports are written (the export writer creates it if missing).',
  },
  REGFLOW_SELECTION_MIN_RESERVE: {
    default: '500',
    doc: 'selection-planner: fewest codes a non-TM market reserves per run (the spec minimum; the surplus over the winners is released).',
  },
  REGFLOW_LOG_LEVEL: { default: 'info', doc: 'pino level: fatal, error, warn, info, debug, trace, silent.' },
  REGFLOW_CACHE_DIR: {
    default: '$XDG_CACHE_HOME/regflow or ~/.cache/regflow',
    doc: 'Where downloads and builds of the local services are kept (outside the clone, reused by fresh clones).',
  },
  REGFLOW_DATA_DIR: {
    default: '<repo>/.regflow',
    doc: 'Runtime data of the local services: data dirs, logs, pid files (git-ignored).',
  },
  REGFLOW_DEMAND_TABLE: {
    default: 'demand-table',
    doc: 'DynamoDB table of registrations (single-table: PK fan:{globalUserId}); created with its stream if missing.',
  },
  REGFLOW_REDIS_PREFIX: {
    default: 'regflow:',
    doc: 'Prefix of every Redis key regflow writes (the campaign cache), so deployments and tests can share a server.',
  },
  REGFLOW_API_HOST: { default: '127.0.0.1', doc: 'Address the registration + admin HTTP API listens on.' },
  REGFLOW_API_PORT: {
    default: '3000',
    doc: 'Port of the registration + admin HTTP API (0 = any free port).',
  },
  REGFLOW_JWT_SECRET: {
    default: 'regflow-local-development-secret-do-not-use',
    doc: 'HS256 secret of fan and admin tokens (at least 32 characters). The default is for local use only.',
  },
  REGFLOW_KEEP_INFRA: {
    default: '0',
    doc: 'Tests: 1 keeps services that the test run started running afterwards.',
  },
  REGFLOW_TEST_CONTAINERS: {
    default: '0',
    doc: 'Tests: where the services come from. 0: local processes (npm run infra); 1: containers started with testcontainers (needs a Docker engine); auto: containers when a Docker engine answers, else local.',
  },
  REGFLOW_TEST_BROKER_RESTART: {
    default: '0',
    doc: 'Tests: 1 runs the tests that stop and restart the local Kafka broker (only one this checkout started; disruptive on a shared broker).',
  },
  REGFLOW_TEST_STORM_ZOMBIES: {
    default: '0',
    doc: 'Tests: 1 makes the rebalance-storm test also pause members past their session timeout (zombies), which exposes the open offset-commit race (README).',
  },
} as const;

export type Variable = keyof typeof VARIABLES;

export interface ServiceEndpoint {
  /** True when the variable was set: the service is someone else's and infra starts nothing. */
  external: boolean;
}

export interface Config {
  kafka: ServiceEndpoint & { brokers: readonly string[]; clientId: string };
  schemaRegistry: ServiceEndpoint & { url: string };
  dynamodb: ServiceEndpoint & {
    endpoint: string;
    region: string;
    demandTable: string;
    requestTimeoutMs: number;
    connectTimeoutMs: number;
  };
  s3: ServiceEndpoint & { endpoint: string; region: string };
  mongodb: ServiceEndpoint & {
    url: string;
    database: string;
    socketTimeoutMs: number;
    serverSelectionTimeoutMs: number;
  };
  redis: ServiceEndpoint & { url: string; prefix: string; commandTimeoutMs: number };
  runtime: {
    httpHost: string;
    httpPort: number;
    sessionTimeoutMs: number;
    batchMaxRecords: number;
    /** The clock's spec (see REGFLOW_CLOCK); `clockFromConfig` turns it into a Clock. */
    clock: string;
  };
  schedulers: { leaseTtlMs: number; catchUpMax: number };
  notifications: {
    sendRatePerHour: number;
    pagerDutyUrl: string;
    pagerDutyRoutingKey: string;
    crmBucket: string;
  };
  selection: { minReserve: number };
  api: { host: string; port: number; jwtSecret: string };
  logLevel: z.infer<typeof logLevel>;
  paths: { cacheDir: string; dataDir: string };
  keepInfra: boolean;
  /** Tests: local services (off), containers (on), or containers when Docker answers (auto). */
  testContainers: 'off' | 'on' | 'auto';
  testStormZombies: boolean;
  testBrokerRestart: boolean;
}

type Env = Record<string, string | undefined>;

function read<T>(env: Env, name: Variable, schema: z.ZodType<T, z.ZodTypeDef, string>, fallback?: string): T {
  const raw = env[name];
  const value = raw === undefined || raw.trim() === '' ? (fallback ?? VARIABLES[name].default) : raw.trim();
  const parsed = schema.safeParse(value);
  if (!parsed.success) {
    const reason = parsed.error.issues.map((i) => i.message).join('; ');
    throw new ConfigError(name, `${reason} (got ${JSON.stringify(value)})`);
  }
  return parsed.data;
}

function readClock(env: Env): string {
  const spec = read(env, 'REGFLOW_CLOCK', z.string());
  try {
    parseClock(spec, 'REGFLOW_CLOCK');
  } catch (err) {
    if (!(err instanceof ValidationError)) throw err;
    throw new ConfigError('REGFLOW_CLOCK', err.message.replace(/^REGFLOW_CLOCK: /, ''));
  }
  return spec;
}

const isSet = (env: Env, name: Variable) => (env[name] ?? '').trim() !== '';

export function loadConfig(env: Env = process.env): Readonly<Config> {
  const brokers = read(env, 'REGFLOW_KAFKA_BROKERS', z.string())
    .split(',')
    .map((b) => b.trim());
  for (const b of brokers) {
    if (!hostPort.safeParse(b).success) {
      throw new ConfigError(
        'REGFLOW_KAFKA_BROKERS',
        `expected host:port, comma-separated (got ${JSON.stringify(b)})`,
      );
    }
  }
  const mongoUrl = read(
    env,
    'REGFLOW_MONGODB_URL',
    z.string().regex(/^mongodb(\+srv)?:\/\//, 'expected a mongodb:// URL'),
  );
  const database = new URL(mongoUrl.replace(/^mongodb(\+srv)?:/, 'http:')).pathname.replace(/^\//, '');
  if (database === '')
    throw new ConfigError('REGFLOW_MONGODB_URL', 'name the database in the path, e.g. /regflow');
  const region = read(
    env,
    'REGFLOW_AWS_REGION',
    z.string().regex(/^[a-z]{2}(-[a-z]+)+-\d$/, 'expected a region'),
  );
  const cacheHome = env.XDG_CACHE_HOME?.trim() || join(homedir(), '.cache');

  const config: Config = {
    kafka: {
      external: isSet(env, 'REGFLOW_KAFKA_BROKERS'),
      brokers,
      clientId: read(
        env,
        'REGFLOW_KAFKA_CLIENT_ID',
        z.string().regex(/^[A-Za-z0-9._-]+$/, 'letters, digits, . _ -'),
      ),
    },
    schemaRegistry: {
      external: isSet(env, 'REGFLOW_SCHEMA_REGISTRY_URL'),
      url: read(env, 'REGFLOW_SCHEMA_REGISTRY_URL', httpUrl).replace(/\/+$/, ''),
    },
    dynamodb: {
      external: isSet(env, 'REGFLOW_DYNAMODB_ENDPOINT'),
      endpoint: read(env, 'REGFLOW_DYNAMODB_ENDPOINT', httpUrl),
      region,
      demandTable: read(
        env,
        'REGFLOW_DEMAND_TABLE',
        z
          .string()
          .regex(/^[A-Za-z0-9_.-]{3,255}$/, 'expected a DynamoDB table name (3-255 of A-Z a-z 0-9 _ . -)'),
      ),
      requestTimeoutMs: read(env, 'REGFLOW_DYNAMODB_REQUEST_TIMEOUT_MS', intIn(100, 600_000)),
      connectTimeoutMs: read(env, 'REGFLOW_DYNAMODB_CONNECT_TIMEOUT_MS', intIn(100, 600_000)),
    },
    s3: {
      external: isSet(env, 'REGFLOW_S3_ENDPOINT'),
      endpoint: read(env, 'REGFLOW_S3_ENDPOINT', httpUrl),
      region,
    },
    mongodb: {
      external: isSet(env, 'REGFLOW_MONGODB_URL'),
      url: mongoUrl,
      database,
      socketTimeoutMs: read(env, 'REGFLOW_MONGODB_SOCKET_TIMEOUT_MS', intIn(100, 3_600_000)),
      serverSelectionTimeoutMs: read(env, 'REGFLOW_MONGODB_SERVER_SELECTION_TIMEOUT_MS', intIn(100, 600_000)),
    },
    redis: {
      external: isSet(env, 'REGFLOW_REDIS_URL'),
      url: read(env, 'REGFLOW_REDIS_URL', z.string().regex(/^rediss?:\/\//, 'expected a redis:// URL')),
      prefix: read(
        env,
        'REGFLOW_REDIS_PREFIX',
        z.string().regex(/^[A-Za-z0-9:_.-]{1,64}$/, 'letters, digits, : _ . -'),
      ),
      commandTimeoutMs: read(env, 'REGFLOW_REDIS_COMMAND_TIMEOUT_MS', intIn(10, 600_000)),
    },
    runtime: {
      httpHost: read(env, 'REGFLOW_HTTP_HOST', z.string().min(1)),
      httpPort: read(env, 'REGFLOW_HTTP_PORT', intIn(0, 65_535)),
      sessionTimeoutMs: read(env, 'REGFLOW_KAFKA_SESSION_TIMEOUT_MS', intIn(6_000, 300_000)),
      batchMaxRecords: read(env, 'REGFLOW_BATCH_MAX_RECORDS', intIn(1, 100_000)),
      clock: readClock(env),
    },
    api: {
      host: read(env, 'REGFLOW_API_HOST', z.string().min(1)),
      port: read(env, 'REGFLOW_API_PORT', intIn(0, 65_535)),
      jwtSecret: read(env, 'REGFLOW_JWT_SECRET', z.string().min(32, 'expected at least 32 characters')),
    },
    schedulers: {
      leaseTtlMs: read(env, 'REGFLOW_SCHEDULER_LEASE_TTL_MS', intIn(300, 600_000)),
      catchUpMax: read(env, 'REGFLOW_SCHEDULER_CATCH_UP_MAX', intIn(1, 10_000)),
    },
    notifications: {
      sendRatePerHour: read(env, 'REGFLOW_NOTIFICATION_SEND_RATE', intIn(1, 10_000_000)),
      pagerDutyUrl: read(env, 'REGFLOW_PAGERDUTY_URL', httpUrl),
      pagerDutyRoutingKey: read(env, 'REGFLOW_PAGERDUTY_ROUTING_KEY', z.string().max(128)),
      crmBucket: read(
        env,
        'REGFLOW_CRM_BUCKET',
        z
          .string()
          .regex(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, 'expected an S3 bucket name (3-63 of a-z 0-9 . -)'),
      ),
    },
    selection: {
      minReserve: read(env, 'REGFLOW_SELECTION_MIN_RESERVE', intIn(0, 10_000_000)),
    },
    logLevel: read(env, 'REGFLOW_LOG_LEVEL', logLevel),
    paths: {
      cacheDir: resolve(read(env, 'REGFLOW_CACHE_DIR', z.string(), join(cacheHome, 'regflow'))),
      dataDir: resolve(read(env, 'REGFLOW_DATA_DIR', z.string(), join(REPO_ROOT, '.regflow'))),
    },
    keepInfra:
      read(env, 'REGFLOW_KEEP_INFRA', z.enum(['0', '1', 'true', 'false'])).match(/^(1|true)$/) !== null,
    testContainers: ({ '0': 'off', false: 'off', '1': 'on', true: 'on', auto: 'auto' } as const)[
      read(env, 'REGFLOW_TEST_CONTAINERS', z.enum(['0', '1', 'true', 'false', 'auto']))
    ],
    testBrokerRestart:
      read(env, 'REGFLOW_TEST_BROKER_RESTART', z.enum(['0', '1', 'true', 'false'])).match(/^(1|true)$/) !==
      null,
    testStormZombies:
      read(env, 'REGFLOW_TEST_STORM_ZOMBIES', z.enum(['0', '1', 'true', 'false'])).match(/^(1|true)$/) !==
      null,
  };
  return deepFreeze(config);
}

function deepFreeze<T>(value: T): Readonly<T> {
  if (value && typeof value === 'object') {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}
