import { logLevel as KafkaLogLevel, type LogEntry } from 'kafkajs';
import { type Logger, pino } from 'pino';

// pino JSON logs for operators. Personal data (email, phone, names) is redacted wherever it
// appears in a logged object, up to three levels deep (record values are logged under `value`).

const PERSONAL = ['email', 'phone', 'phoneNumber', 'firstName', 'lastName', 'name', 'fullName', 'postalCode'];
export const REDACT_PATHS = PERSONAL.flatMap((f) => [f, `*.${f}`, `*.*.${f}`, `*.*.*.${f}`]);

export function createLogger(level: string, bindings: Record<string, unknown> = {}): Logger {
  return pino({
    level,
    base: { service: 'regflow', ...bindings },
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label) => ({ level: label }) },
  });
}

// kafkajs logs at ERROR what is routine for regflow. Operators should read an error line as "act":
// - conditions kafkajs retries itself (coordinator loading or moving, concurrent transactions,
//   a leader election) are debug, unless they persist (then the retry fails and regflow logs it);
// - a rebalance seen on a heartbeat, and the fencing of a previous owner's producer ("old
//   epoch", after a rebalance or a restart) are how exactly-once works: info.
// kafkajs warns that capping an idempotent producer's retries "may invalidate EoS"; regflow caps
// them on transactional producers on purpose (a failed send aborts the transaction).
const EXPECTED_WARNINGS = /Limiting retries for the idempotent producer/;

const RETRIED_BY_KAFKAJS =
  /coordinator is loading|coordinator is not available|not the correct coordinator|concurrent operation on the same transaction|CONCURRENT_TRANSACTIONS|There is no leader for this topic-partition|does not host this topic-partition|leadership election/i;

const ROUTINE =
  /The group is rebalancing|old epoch|PRODUCER_FENCED|INVALID_PRODUCER_EPOCH|has been fenced|re-joining the group/i;

/** The level regflow logs a kafkajs entry at. */
export function kafkaLevelOf(
  level: KafkaLogLevel,
  text: string,
): 'error' | 'warn' | 'info' | 'debug' | 'trace' {
  if (level === KafkaLogLevel.ERROR) {
    if (RETRIED_BY_KAFKAJS.test(text)) return 'debug';
    return ROUTINE.test(text) ? 'info' : 'error';
  }
  if (level === KafkaLogLevel.WARN) {
    if (EXPECTED_WARNINGS.test(text)) return 'debug';
    return ROUTINE.test(text) ? 'info' : 'warn';
  }
  return level === KafkaLogLevel.INFO ? 'debug' : 'trace';
}

/** A kafkajs logCreator that writes through pino, with kafkajs's `error` under regflow's `err`. */
export function kafkaLogCreator(logger: Logger) {
  const child = logger.child({ component: 'kafkajs' });
  return () =>
    ({ level, log }: LogEntry) => {
      const {
        message,
        timestamp: _t,
        logger: _l,
        error,
        ...extra
      } = log as Record<string, unknown> & { message: string };
      const fields = error === undefined ? extra : { ...extra, err: String(error) };
      child[kafkaLevelOf(level, `${message} ${String(error ?? '')}`)](fields, message);
    };
}
