import { describeError, UsageError } from '../lib/errors.ts';
import { parseDemoArgs } from './options.ts';
import { EXIT, runDemo } from './run.ts';

// `npm run demo -- [options]`: see demo/options.ts and the README's "The demo" section.

try {
  const options = parseDemoArgs(process.argv.slice(2));
  process.exitCode = await runDemo(options, process.stdout);
} catch (err) {
  console.error(`regflow demo: ${describeError(err)}`);
  process.exitCode = err instanceof UsageError ? EXIT.refused : EXIT.failed;
}
// Clients the scenarios opened (kafkajs, the AWS SDK's sockets) must not keep the process alive.
process.exit();
