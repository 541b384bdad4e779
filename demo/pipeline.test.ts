import { describe, expect, it } from 'vitest';
import { loadConfig } from '../config/index.ts';
import { PROCESSORS } from '../processors/index.ts';
import {
  NOTIFICATION_PROCESSORS,
  notificationComponents,
  REFERENCE_PROCESSORS,
  SELECTION_PROCESSORS,
  systemComponents,
  systemProcessors,
} from './pipeline.ts';

describe('demo pipeline components', () => {
  const config = loadConfig({ REGFLOW_DEMAND_TABLE: 'demo-table' });

  it('runs every processor once: system-clock ones, selection ones, notification ones (no reference ones)', () => {
    const all = [...systemProcessors(), ...SELECTION_PROCESSORS, ...NOTIFICATION_PROCESSORS].sort();
    expect(all).toEqual(
      Object.keys(PROCESSORS)
        .filter((p) => !REFERENCE_PROCESSORS.includes(p))
        .sort(),
    );
  });

  it('gives the selection processors a long session and the connector the configured table', () => {
    const byName = new Map(systemComponents(config).map((c) => [c.name, c]));
    expect([...byName.keys()]).toEqual(['processors', 'selection', 'api', 'connector']);
    expect(byName.get('selection')?.env?.REGFLOW_KAFKA_SESSION_TIMEOUT_MS).toBe('300000');
    const connector = byName.get('connector');
    expect(connector?.args).toEqual(expect.arrayContaining(['connector', 'run']));
    expect(connector?.args).not.toContain('--table');
    expect(connector?.env?.REGFLOW_DEMAND_TABLE).toBe('demo-table');
    // Its /readyz on a port of the demo's choosing, which the demo watches for a halt.
    const watched = systemComponents(config, { connectorPort: 45_678 }).find((c) => c.name === 'connector');
    expect(watched?.env?.REGFLOW_HTTP_PORT).toBe('45678');
    expect(watched?.readyUrl).toBe(`http://${config.runtime.httpHost}:45678/readyz`);
    expect(byName.get('processors')?.args).not.toContain('scheduler-jobs');
  });

  it('puts the notification processors and the scheduler replica on one simulated clock', () => {
    const clock = 'simulated:2026-11-30T07:30:00.000Z,speed=600,anchor=1000';
    const [notify, schedulers] = notificationComponents(clock, 'demo-x');
    expect(notify?.args.slice(-2)).toEqual(['--clock', clock]);
    expect(notify?.args).toEqual(expect.arrayContaining(NOTIFICATION_PROCESSORS));
    expect(schedulers?.env).toMatchObject({ REGFLOW_CLOCK: clock, DEMO_SCHEDULER_PREFIX: 'demo-x' });
  });
});
