import type { Command } from 'commander';

// The `regflow` commands (cli/regflow.ts), each file imported only when one of its commands runs.
// Importing every command's file cost each of `npm start`'s processes the code of all the others
// (the AWS SDK, fastify, the API, every processor…; README: Memory). The names only steer what is
// imported: a command missing from its file's list still runs (every file is imported then).

export type Register = (program: Command) => void;
export type CommandFile = readonly [names: readonly string[], load: () => Promise<Register>];

/** Each command file, with the top-level command names it registers, in the order of the help. */
export const COMMANDS: readonly CommandFile[] = [
  [['start'], async () => (await import('./start.ts')).registerStart],
  [['run'], async () => (await import('./run.ts')).registerRun],
  [['tail'], async () => (await import('./tail.ts')).registerTail],
  [['replay'], async () => (await import('./replay.ts')).registerReplay],
  [['dlq'], async () => (await import('./dlq.ts')).registerDlq],
  [['topology'], async () => (await import('./topology.ts')).registerTopology],
  [['topics'], async () => (await import('./topics.ts')).registerTopics],
  [['campaign'], async () => (await import('./campaign.ts')).registerCampaign],
  [['api', 'token'], async () => (await import('./api.ts')).registerApi],
  [['connector'], async () => (await import('./connector.ts')).registerConnector],
  [['schedulers'], async () => (await import('./schedulers.ts')).registerSchedulers],
  [['publish-data'], async () => (await import('./publish-data.ts')).registerPublishData],
  [
    ['codes', 'scores', 'select', 'selection', 'audit'],
    async () => (await import('./selection.ts')).registerSelection,
  ],
];

/**
 * The files a command line needs: the one registering its command (`argv[2]`), or every file
 * (no command, an option such as --help first, or a name no entry lists).
 */
export function commandFilesFor(
  argv: readonly string[],
  commands: readonly CommandFile[] = COMMANDS,
): CommandFile[] {
  const name = argv[2];
  const match = commands.find(([names]) => name !== undefined && names.includes(name));
  return match ? [match] : [...commands];
}

/** Registers on the program what the command line needs. */
export async function registerCommands(program: Command, argv: readonly string[]): Promise<void> {
  const registers = await Promise.all(commandFilesFor(argv).map(([, load]) => load()));
  for (const register of registers) register(program);
}
