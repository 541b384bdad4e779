import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../config/index.ts';

// kafkajs resends every partition of a Produce request when one partition of it fails (for
// example NOT_LEADER_OR_FOLLOWER right after a topic is created), so a plain producer writes the
// partitions that succeeded twice. Only idempotent (or transactional) producers let the broker
// drop those resends: every producer regflow creates, in code, tools and tests, must be one.

const SKIP = new Set(['node_modules', '.git', '.regflow', 'dist', 'coverage']);

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    if (SKIP.has(e.name)) return [];
    const path = join(dir, e.name);
    if (e.isDirectory()) return sourceFiles(path);
    return /\.(ts|js|mjs)$/.test(e.name) ? [path] : [];
  });
}

/** Each `.producer(` call with the text of its argument list (balanced parentheses). */
function producerCalls(source: string): string[] {
  const calls: string[] = [];
  for (let at = source.indexOf('.producer('); at >= 0; at = source.indexOf('.producer(', at + 1)) {
    let depth = 0;
    let end = at + '.producer'.length;
    for (; end < source.length; end++) {
      if (source[end] === '(') depth++;
      else if (source[end] === ')' && --depth === 0) break;
    }
    calls.push(source.slice(at, end + 1));
  }
  return calls;
}

describe('Kafka producers', () => {
  it('are all idempotent or transactional', () => {
    const plain: string[] = [];
    let seen = 0;
    for (const file of sourceFiles(REPO_ROOT)) {
      if (file.endsWith('producers.test.ts')) continue;
      for (const call of producerCalls(readFileSync(file, 'utf8'))) {
        seen++;
        if (!/idempotent:\s*true|transactionalId:/.test(call))
          plain.push(`${relative(REPO_ROOT, file)}: ${call}`);
      }
    }
    expect(seen).toBeGreaterThan(3);
    expect(plain).toEqual([]);
  });
});
