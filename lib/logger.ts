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

// kafkajs logs retriable protocol conditions (coordinator loading, concurrent transactions) at
// ERROR although it retries them itself; they are noise unless they persist.
// kafkajs warns that capping an idempotent producer's retries "may invalidate EoS"; regflow caps
// them on transactional producers on purpose (a failed send aborts the transaction).
const EXPECTED_WARNINGS = /Limiting retries for the idempotent producer/;

const RETRIED_BY_KAFKAJS =
  /coordinator is loading|coordinator is not available|not the correct coordinator|concurrent operation on the same transaction|CONCURRENT_TRANSACTIONS|There is no leader for this topic-partition|leadership election/i;

/** A kafkajs logCreator that writes through pino. */
export function kafkaLogCreator(logger: Logger) {
  return () =>
    ({ level, log }: LogEntry) => {
      const {
        message,
        timestamp: _t,
        logger: _l,
        ...extra
      } = log as Record<string, unknown> & { message: string };
      const text = `${message} ${String(extra.error ?? '')}`;
      const child = logger.child({ component: 'kafkajs' });
      if (level === KafkaLogLevel.ERROR && RETRIED_BY_KAFKAJS.test(text)) child.debug(extra, message);
      else if (level === KafkaLogLevel.ERROR) child.error(extra, message);
      else if (level === KafkaLogLevel.WARN && EXPECTED_WARNINGS.test(message)) child.debug(extra, message);
      else if (level === KafkaLogLevel.WARN) child.warn(extra, message);
      else if (level === KafkaLogLevel.INFO) child.debug(extra, message);
      else child.trace(extra, message);
    };
}
