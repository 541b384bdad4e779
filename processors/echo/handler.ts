import { PermanentError, RetriableError } from '../../lib/errors.ts';
import type { Handler } from '../../runtime/types.ts';
import type { SampleEvent } from '../../schemas/types.generated.ts';

// The reference processor: forwards every sample event to its output, keyed as it came. Its
// `behavior` field lets tests and operators exercise each failure path of the runtime:
//   ok           forwarded
//   permanent    a permanent error: straight to the dead-letter topic
//   poison       a retriable error on every attempt: in-place retries, every retry tier, then the DLT
//   transient:N  a retriable error on the first N attempts, then forwarded once

export function echoHandler(output: string): Handler<SampleEvent> {
  return (record) => {
    const { behavior } = record.value;
    if (behavior === 'permanent')
      throw new PermanentError(`sample event ${record.value.id} is marked permanent`);
    if (behavior === 'poison') throw new RetriableError(`sample event ${record.value.id} is poison`);
    const transient = /^transient:(\d+)$/.exec(behavior);
    if (transient && record.attempt <= Number(transient[1])) {
      throw new RetriableError(
        `sample event ${record.value.id} fails attempt ${record.attempt} of ${transient[1]}`,
      );
    }
    return [{ topic: output, key: record.key, value: record.value }];
  };
}
