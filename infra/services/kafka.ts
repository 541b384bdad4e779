import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { logLevel } from 'kafkajs';
import { REPO_ROOT } from '../../config/index.ts';
import { createKafka } from '../../lib/clients.ts';
import { findJava, requireCommand } from '../prereqs.ts';
import { ensureDir, runStep } from '../proc.ts';
import { cacheStamp, type LocalService } from '../service.ts';

// Apache Kafka 3.9.1 in KRaft mode, one combined broker+controller on loopback, from the jars
// on Maven Central (infra/kafka/pom.xml). 3.9 keeps every protocol version kafkajs 2.2.4 sends.

export const KAFKA_VERSION = '3.9.1';
const BROKER_PORT = 9092;
const CONTROLLER_PORT = 9093;

export function serverProperties(logDir: string): string {
  return `# written by regflow infra; edit infra/services/kafka.ts instead
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:${CONTROLLER_PORT}
listeners=PLAINTEXT://127.0.0.1:${BROKER_PORT},CONTROLLER://127.0.0.1:${CONTROLLER_PORT}
advertised.listeners=PLAINTEXT://127.0.0.1:${BROKER_PORT}
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
log.dirs=${logDir}
num.partitions=1
auto.create.topics.enable=false
offsets.topic.replication.factor=1
offsets.topic.num.partitions=10
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=10
group.initial.rebalance.delay.ms=0
transaction.abort.timed.out.transaction.cleanup.interval.ms=10000
log.retention.hours=168
`;
}

/**
 * The StorageTool command line that formats KRaft storage. The cluster id is random base64url and
 * starts with '-' about once in 64: given as a separate argument, argparse would read it as an
 * option ("argument --cluster-id/-t: expected one argument"), so it is joined to its flag.
 */
export function storageFormatArgs(a: {
  classpath: string;
  log4j: string;
  clusterId: string;
  props: string;
}): string[] {
  return [
    '-cp',
    a.classpath,
    a.log4j,
    'kafka.tools.StorageTool',
    'format',
    `--cluster-id=${a.clusterId}`,
    '-c',
    a.props,
    '--ignore-formatted',
  ];
}

export const kafka: LocalService = {
  name: 'kafka',
  describe: `Apache Kafka ${KAFKA_VERSION} (KRaft, single node)`,
  variable: 'REGFLOW_KAFKA_BROKERS',
  endpoint: (c) => c.kafka.brokers.join(','),
  isExternal: (c) => c.kafka.external,
  ports: [BROKER_PORT, CONTROLLER_PORT],
  startTimeoutMs: 60_000,

  async provision(ctx) {
    const libs = join(ctx.cacheDir, 'libs');
    const stamp = cacheStamp(ctx.cacheDir, `kafka ${KAFKA_VERSION}`);
    if (stamp.ok()) return;
    await findJava(17);
    const mvn = await requireCommand('mvn', "install Maven (Debian package 'maven')");
    ctx.print(`resolving Apache Kafka ${KAFKA_VERSION} and its dependencies from Maven Central into ${libs}`);
    ensureDir(libs);
    await runStep(
      mvn,
      [
        '-B',
        '-f',
        join(REPO_ROOT, 'infra/kafka/pom.xml'),
        'dependency:copy-dependencies',
        `-DoutputDirectory=${libs}`,
        '-DincludeScope=runtime',
      ],
      {
        print: (l) => /^\[INFO\] Downloaded from|BUILD|ERROR/.test(l) && ctx.print(l.replace('[INFO] ', '')),
      },
    );
    ctx.print(`${readdirSync(libs).length} jars ready`);
    stamp.write();
  },

  async command(ctx) {
    const java = await findJava(17);
    const logDir = ensureDir(join(ctx.dataDir, 'log'));
    const props = join(ctx.dataDir, 'server.properties');
    writeFileSync(props, serverProperties(logDir));
    const classpath = `${join(ctx.cacheDir, 'libs')}/*`;
    const log4j = `-Dlog4j.configuration=file:${join(REPO_ROOT, 'infra/kafka/log4j.properties')}`;
    if (!existsSync(join(logDir, 'meta.properties'))) {
      // KRaft storage must be formatted once with a cluster id (22 chars of url-safe base64 of 16 bytes).
      const clusterId = randomBytes(16).toString('base64url');
      ctx.print(`formatting KRaft storage in ${logDir}`);
      await runStep(java.bin, storageFormatArgs({ classpath, log4j, clusterId, props }), {
        print: (l) => /Formatting|ERROR/.test(l) && ctx.print(l),
      });
    }
    return {
      cmd: java.bin,
      args: [
        '-Xms256m',
        '-Xmx1g',
        '-XX:+UseG1GC',
        '-XX:MaxGCPauseMillis=20',
        '-Djava.awt.headless=true',
        log4j,
        '-cp',
        classpath,
        'kafka.Kafka',
        props,
      ],
      marker: props,
    };
  },

  async healthy(config) {
    const admin = createKafka(config.kafka, { retry: { retries: 0 }, logLevel: logLevel.NOTHING }).admin();
    try {
      await admin.connect();
      const cluster = await admin.describeCluster();
      return cluster.brokers.length > 0 && cluster.controller !== null;
    } finally {
      await admin.disconnect().catch(() => {});
    }
  },
};
