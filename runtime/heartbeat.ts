// A handler's heartbeat (`ctx.heartbeat()`): a handler that runs for minutes on one record (the
// selection planner paging a million rows) calls it while it makes progress, and kafkajs's
// `heartbeat()` of the batch in hand keeps the member in its group, so the session timeout stays
// short for every processor instead of outlasting the longest handler.
//
// Cheap enough to call per page or per write: it asks kafkajs at most every `everyMs`. It never
// throws into the handler: a heartbeat refused because the group is rebalancing or the session
// expired is the partition loop's to act on once the handler returns (its own heartbeat throws, the
// chunk is not committed, the member rejoins), never a failure of the record.

export interface HeartbeatOptions {
  /** Least time between two heartbeats asked of kafkajs (it throttles to its own interval too). */
  everyMs?: number;
  now?: () => number;
  /** Told each refused heartbeat (logging), never thrown. */
  onError?: (err: unknown) => void;
}

export function handlerHeartbeat(
  beat: () => Promise<void>,
  opts: HeartbeatOptions = {},
): () => Promise<void> {
  const everyMs = opts.everyMs ?? 1_000;
  const now = opts.now ?? Date.now;
  let last = Number.NEGATIVE_INFINITY;
  return async () => {
    const t = now();
    if (t - last < everyMs) return;
    // Set before the call: concurrent callers (a handler's parallel writes) ask once.
    last = t;
    try {
      await beat();
    } catch (err) {
      opts.onError?.(err);
    }
  };
}

/**
 * Awaits `work` (one store call or a handler's whole body), asking `ctx.heartbeat()` every second
 * meanwhile, so a handler whose stores are slow (a count over a million rows, or a loaded FerretDB)
 * keeps its group membership with the ordinary session timeout. Without ctx.heartbeat it is `work`.
 */
export async function beatWhile<T>(
  ctx: { heartbeat?: () => Promise<void> },
  work: Promise<T>,
  everyMs = 1_000,
): Promise<T> {
  const { heartbeat } = ctx;
  if (!heartbeat) return work;
  const timer = setInterval(() => void heartbeat(), everyMs);
  try {
    return await work;
  } finally {
    clearInterval(timer);
  }
}
