import type { SchemaRegistry } from '@kafkajs/confluent-schema-registry';
import { SchemaType } from '@kafkajs/confluent-schema-registry';
import { ErrorCode, PermanentError, RetriableError } from '../lib/errors.ts';

// Confluent wire format through the registry: magic byte 0, 4-byte schema id, Avro body.
// Schemas are registered under `<topic>-value` (TopicNameStrategy).

export const subjectOf = (topic: string) => `${topic}-value`;

/** A record value that cannot be decoded (wrong magic byte, unknown schema id, corrupt body). */
export class DecodeError extends PermanentError {
  constructor(message: string, cause?: unknown) {
    super(message, { cause, code: ErrorCode.DECODE });
  }
}

export class Codec {
  private readonly ids = new Map<string, number>();

  constructor(private readonly registry: SchemaRegistry) {}

  /**
   * Registers `schema` as the latest version of `<topic>-value`; the registry refuses (and this
   * throws, naming the subject) when it breaks the subject's compatibility rule.
   */
  async register(topic: string, schema: object): Promise<number> {
    const subject = subjectOf(topic);
    for (let attempt = 1; ; attempt++) {
      try {
        const { id } = await this.registry.register(
          { type: SchemaType.AVRO, schema: JSON.stringify(schema) },
          { subject },
        );
        this.ids.set(topic, id);
        return id;
      } catch (err) {
        // Two processes registering a new subject at once both create its compatibility rule;
        // the registry refuses the second ("A rule named 'COMPATIBILITY' already exists").
        // Registering again then finds the rule and the schema in place.
        if (attempt < 5 && /already exists/i.test((err as Error).message ?? '')) {
          await new Promise((r) => setTimeout(r, 50 * attempt));
          continue;
        }
        throw new PermanentError(`schema for ${subject} refused by the registry: ${(err as Error).message}`, {
          cause: err,
        });
      }
    }
  }

  schemaId(topic: string): number {
    const id = this.ids.get(topic);
    if (id === undefined)
      throw new PermanentError(`no schema registered for ${subjectOf(topic)} in this process`);
    return id;
  }

  async encode(topic: string, value: unknown): Promise<Buffer> {
    try {
      return await this.registry.encode(this.schemaId(topic), value);
    } catch (err) {
      if (err instanceof PermanentError) throw err;
      throw new PermanentError(
        `value does not match the schema of ${subjectOf(topic)}: ${(err as Error).message}`,
        {
          cause: err,
        },
      );
    }
  }

  async decode(buffer: Buffer | null): Promise<unknown> {
    if (buffer === null) throw new DecodeError('record has no value (tombstone)');
    if (buffer.length < 5 || buffer[0] !== 0) {
      throw new DecodeError(`not in the Confluent wire format (magic byte ${buffer[0] ?? 'missing'})`);
    }
    try {
      return await this.registry.decode(buffer);
    } catch (err) {
      const message = (err as Error).message ?? String(err);
      const status = (err as { status?: number }).status;
      if (status !== undefined && status >= 500)
        throw new RetriableError(`registry unavailable: ${message}`, { cause: err });
      if (/ECONNREFUSED|ETIMEDOUT|ECONNRESET|socket hang up/i.test(message)) {
        throw new RetriableError(`registry unreachable: ${message}`, { cause: err });
      }
      throw new DecodeError(`cannot decode schema id ${buffer.readInt32BE(1)}: ${message}`, err);
    }
  }
}
