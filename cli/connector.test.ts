import { Command } from 'commander';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../config/index.ts';
import { registerConnector, targetOf } from './connector.ts';

// Every `regflow connector` command reads the table the config names (REGFLOW_DEMAND_TABLE, the
// one the API writes) unless --table overrides it: no hard-coded `demand-table` default.

const config = loadConfig({ REGFLOW_DEMAND_TABLE: 'configured-table' });
const base = { name: 'dynamodb-streams', changesTopic: 'c', checkpointsTopic: 'k', retentionMs: '1000' };

describe('regflow connector', () => {
  it('targets the configured table without --table, and the named one with it', () => {
    expect(targetOf(base, config).table).toBe('configured-table');
    expect(targetOf({ ...base, table: 'other-table' }, config).table).toBe('other-table');
  });

  it('gives no subcommand a --table default of its own (which would shadow the config)', () => {
    const program = new Command('regflow');
    registerConnector(program);
    const connector = program.commands.find((c) => c.name() === 'connector')!;
    const names = connector.commands.map((c) => c.name());
    expect(names).toEqual(expect.arrayContaining(['run', 'snapshot', 'status', 'reset']));
    for (const sub of connector.commands) {
      const table = sub.options.find((o) => o.long === '--table');
      expect(table, `${sub.name()} has --table`).toBeDefined();
      expect(table?.defaultValue, `${sub.name()} --table default`).toBeUndefined();
    }
  });
});
