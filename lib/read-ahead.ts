// Reads an async source up to `depth` items ahead of its consumer, so a slow read (a database
// busy with someone else's work for a second) stalls the consumer only once the buffer is empty,
// and a slow consumer (writes waiting on back-pressure) does not hold the reads back. Memory is
// bounded: the item in the consumer's hands plus at most `depth` more. Order is kept; an error of the source reaches the
// consumer in its place; stopping early (break, throw) closes the source.

export async function* readAhead<T>(source: AsyncIterable<T>, depth: number): AsyncGenerator<T> {
  if (!(Number.isInteger(depth) && depth >= 1))
    throw new RangeError(`readAhead depth must be >= 1 (got ${depth})`);
  const it = source[Symbol.asyncIterator]();
  const queue: Promise<IteratorResult<T>>[] = [];
  let ended = false;
  const top = () => {
    // An async iterator takes next() calls while earlier ones are pending and settles them in order.
    while (!ended && queue.length < depth) {
      const next = it.next();
      next.then(
        (r) => {
          if (r.done) ended = true;
        },
        () => {
          ended = true;
        },
      );
      queue.push(next);
    }
  };
  let finished = false;
  try {
    for (;;) {
      top();
      const next = queue.shift();
      if (!next) break;
      top(); // refill now: the reads go on while the consumer works on this item
      const r = await next;
      if (r.done) {
        finished = true;
        break;
      }
      yield r.value;
    }
  } catch (err) {
    finished = true; // the source failed: it is closed already
    throw err;
  } finally {
    for (const pending of queue) pending.catch(() => {});
    if (!finished) await it.return?.(undefined);
  }
}
