import { Command } from 'commander';
import { describeError } from '../lib/errors.ts';
import { registerStart } from './start.ts';

// `regflow`: the operator's CLI. One file per command; each registers itself on the program.

const program = new Command('regflow')
  .description('regflow: presale registration pipeline on Apache Kafka')
  .showHelpAfterError()
  .configureOutput({ outputError: (str, write) => write(`regflow: ${str.replace(/^error: /, '')}`) });

registerStart(program);

program.parseAsync(process.argv).catch((err: unknown) => {
  console.error(`regflow: ${describeError(err)}`);
  process.exit(1);
});
