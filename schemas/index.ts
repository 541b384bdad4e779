import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import avro from 'avsc';
import { ValidationError } from '../lib/errors.ts';

// The Avro schemas of every record value, one `<name>.avsc` per record type. Topics name their
// value schema by file name (TopicSpec.valueSchema); the registry gets them from here.

export const SCHEMAS_DIR = dirname(fileURLToPath(import.meta.url));

// Names become file paths: keep them to plain kebab-case so a name can never leave the folder.
const SCHEMA_NAME = /^[a-z0-9]+(-[a-z0-9]+)*$/;

export const schemaPath = (name: string, dir = SCHEMAS_DIR) => join(dir, `${name}.avsc`);

export function schemaExists(name: string, dir = SCHEMAS_DIR): boolean {
  return SCHEMA_NAME.test(name) && existsSync(schemaPath(name, dir));
}

/** Names of the schemas under schemas/, without `.avsc`, sorted. */
export function listSchemas(dir = SCHEMAS_DIR): string[] {
  return readdirSync(dir)
    .filter((f) => f.endsWith('.avsc'))
    .map((f) => f.slice(0, -'.avsc'.length))
    .sort();
}

/**
 * Reads `schemas/<name>.avsc`; throws a ValidationError naming the file when it is missing or not a
 * valid Avro schema. `dir` is for tests.
 */
export function loadSchema(name: string, dir = SCHEMAS_DIR): object {
  if (!SCHEMA_NAME.test(name))
    throw new ValidationError('schema name', `expected kebab-case, got ${JSON.stringify(name)}`);
  const file = dir === SCHEMAS_DIR ? `schemas/${name}.avsc` : schemaPath(name, dir);
  let text: string;
  try {
    text = readFileSync(schemaPath(name, dir), 'utf8');
  } catch {
    throw new ValidationError(file, `no such schema (have: ${listSchemas(dir).join(', ') || 'none'})`);
  }
  let schema: unknown;
  try {
    schema = JSON.parse(text);
  } catch (err) {
    throw new ValidationError(file, `not JSON: ${(err as Error).message}`);
  }
  try {
    avro.Type.forSchema(schema as avro.Schema);
  } catch (err) {
    throw new ValidationError(file, `not a valid Avro schema: ${(err as Error).message}`);
  }
  return schema as object;
}
