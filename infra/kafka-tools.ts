import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { type Config, REPO_ROOT } from '../config/index.ts';
import { UsageError } from '../lib/errors.ts';
import { findJava, requireCommand } from './prereqs.ts';
import { ensureDir, type Printer, runStep } from './proc.ts';
import { cacheStamp } from './service.ts';
import { KAFKA_VERSION } from './services/kafka.ts';

// Apache Kafka's own command-line tools, without a Kafka distribution: the `bin/kafka-*.sh`
// scripts are each one Java main class, run here from the tools' jars (resolved from Maven Central
// on first use into the cache, beside the broker's: `<cache>/kafka-tools/libs`).
// `npm run infra -- kafka consumer-groups --describe --group entry-replicator` is
// `kafka-consumer-groups.sh --bootstrap-server <REGFLOW_KAFKA_BROKERS> --describe --group entry-replicator`.

/** Tool name (the script's name without `kafka-` and `.sh`) → its main class in Kafka 3.9. */
export const KAFKA_TOOLS: Readonly<Record<string, string>> = {
  topics: 'org.apache.kafka.tools.TopicCommand',
  'consumer-groups': 'org.apache.kafka.tools.consumer.group.ConsumerGroupCommand',
  'console-consumer': 'org.apache.kafka.tools.consumer.ConsoleConsumer',
  'get-offsets': 'org.apache.kafka.tools.GetOffsetShell',
  transactions: 'org.apache.kafka.tools.TransactionsCommand',
  'delete-records': 'org.apache.kafka.tools.DeleteRecordsCommand',
  configs: 'kafka.admin.ConfigCommand',
  'broker-api-versions': 'kafka.admin.BrokerApiVersionsCommand',
};

/** The tool's arguments, with `--bootstrap-server` added when the caller gave none. */
export function toolArgs(args: readonly string[], brokers: readonly string[]): string[] {
  const given = args.some((a) => a === '--bootstrap-server' || a.startsWith('--bootstrap-server='));
  return given ? [...args] : ['--bootstrap-server', brokers.join(','), ...args];
}

/** Resolves the tools' jars once (Maven); returns the classpath. */
export async function provisionKafkaTools(config: Readonly<Config>, print: Printer): Promise<string> {
  const dir = ensureDir(join(config.paths.cacheDir, 'kafka-tools'));
  const libs = join(dir, 'libs');
  const stamp = cacheStamp(dir, `kafka-tools ${KAFKA_VERSION}`);
  if (!stamp.ok()) {
    const mvn = await requireCommand('mvn', "install Maven (Debian package 'maven')");
    print(`resolving Apache Kafka ${KAFKA_VERSION}'s tools from Maven Central into ${libs}`);
    ensureDir(libs);
    await runStep(
      mvn,
      [
        '-B',
        '-f',
        join(REPO_ROOT, 'infra/kafka/tools/pom.xml'),
        'dependency:copy-dependencies',
        `-DoutputDirectory=${libs}`,
        '-DincludeScope=runtime',
      ],
      { print: (l) => /BUILD|ERROR/.test(l) && print(l.replace('[INFO] ', '')) },
    );
    stamp.write();
  }
  return `${libs}/*`;
}

/** The java command line of one tool (resolving the jars first if needed). */
export async function kafkaToolCommand(
  config: Readonly<Config>,
  tool: string,
  args: readonly string[],
  print: Printer = (l) => console.error(l),
): Promise<{ cmd: string; args: string[] }> {
  const main = KAFKA_TOOLS[tool];
  if (!main)
    throw new UsageError(`unknown Kafka tool '${tool}' (known: ${Object.keys(KAFKA_TOOLS).join(', ')})`);
  const classpath = await provisionKafkaTools(config, print);
  const java = await findJava(17);
  const log4j = `-Dlog4j.configuration=file:${join(REPO_ROOT, 'infra/kafka/tools/log4j.properties')}`;
  return {
    cmd: java.bin,
    args: ['-Xmx256m', log4j, '-cp', classpath, main, ...toolArgs(args, config.kafka.brokers)],
  };
}

/** Runs one tool with the terminal's stdio; resolves with its exit code. */
export async function runKafkaTool(
  config: Readonly<Config>,
  tool: string,
  args: readonly string[],
): Promise<number> {
  const command = await kafkaToolCommand(config, tool, args);
  const child = spawn(command.cmd, command.args, { stdio: 'inherit' });
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code, signal) => resolve(code ?? (signal ? 1 : 0)));
  });
}
