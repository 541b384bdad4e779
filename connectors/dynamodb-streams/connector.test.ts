import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../config/index.ts';
import { DEFAULT_CONNECTOR_NAME, DEFAULT_TOPICS, resetCommand } from './connector.ts';
import { STREAM_RETENTION_MS } from './shards.ts';

// The remedy a halted connector shows (its /readyz, `npm start`'s log, the demo): the command that
// accepts its gaps, naming only what `regflow connector reset` would not assume by itself.

const config = loadConfig({ REGFLOW_DEMAND_TABLE: 'configured-table' });
const usual = {
  table: 'configured-table',
  name: DEFAULT_CONNECTOR_NAME,
  topics: DEFAULT_TOPICS,
  retentionMs: STREAM_RETENTION_MS,
};

describe('resetCommand', () => {
  it('is the bare command for the configured table, default name, topics and retention', () => {
    expect(resetCommand(config, usual)).toBe('npx regflow connector reset --accept-gap');
  });

  it('names every target that differs from those defaults', () => {
    expect(
      resetCommand(config, {
        table: 'other',
        name: 'conn-1',
        topics: { changes: 'c1', checkpoints: 'k1' },
        retentionMs: 6_000,
      }),
    ).toBe(
      'npx regflow connector reset --accept-gap --table other --name conn-1 --changes-topic c1 --checkpoints-topic k1 --retention-ms 6000',
    );
  });
});
