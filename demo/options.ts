import { UsageError } from '../lib/errors.ts';

// `npm run demo -- [--fans N] [--winners N] [--concurrency N] [--speed N]`: parsed and checked
// here (pure), so a bad value is one clear line naming the option.

export interface DemoOptions {
  /** Scenario 1's registrations through the HTTP API. */
  fans: number;
  /** Scenario 1's winners (codes imported: at least REGFLOW_SELECTION_MIN_RESERVE). */
  winners: number;
  /** Registration requests in flight. */
  concurrency: number;
  /** Simulated ms per real ms in the notification stage; default: about 60 s from the simulated start to the notification. */
  speed?: number;
}

export const DEFAULT_OPTIONS: DemoOptions = { fans: 50_000, winners: 500, concurrency: 32 };

export const USAGE =
  'usage: npm run demo -- [--fans N (50000)] [--winners N (500)] [--concurrency N (32)] [--speed N (simulated ms per real ms)]';

function positiveInt(option: string, raw: string | undefined, max: number): number {
  if (raw === undefined || !/^\d+$/.test(raw) || Number(raw) < 1 || Number(raw) > max)
    throw new UsageError(`${option}: expected a whole number from 1 to ${max} (got ${JSON.stringify(raw)})`);
  return Number(raw);
}

export function parseDemoArgs(argv: readonly string[]): DemoOptions {
  const o: DemoOptions = { ...DEFAULT_OPTIONS };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const [name, inline] = arg.includes('=') ? arg.split('=', 2) : [arg, undefined];
    const value = () => inline ?? argv[++i];
    switch (name) {
      case '--fans':
        o.fans = positiveInt('--fans', value(), 1_000_000);
        break;
      case '--winners':
        o.winners = positiveInt('--winners', value(), 1_000_000);
        break;
      case '--concurrency':
        o.concurrency = positiveInt('--concurrency', value(), 512);
        break;
      case '--speed':
        o.speed = positiveInt('--speed', value(), 100_000);
        break;
      case '--help':
      case '-h':
        throw new UsageError(USAGE);
      default:
        throw new UsageError(`unknown option ${JSON.stringify(arg)}; ${USAGE}`);
    }
  }
  if (o.winners >= o.fans)
    throw new UsageError(`--winners: expected fewer winners than fans (${o.winners} ≥ ${o.fans})`);
  return o;
}
