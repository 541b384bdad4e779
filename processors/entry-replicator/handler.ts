import { describeError, RetriableError } from '../../lib/errors.ts';
import { withTimeout } from '../../lib/retry.ts';
import {
  type BatchHandler,
  type BatchItemOutcome,
  failed,
  type OutputRecord,
  succeeded,
} from '../../runtime/types.ts';
import type { EntryChange } from '../../schemas/types.generated.ts';
import { type EntryStore, MAX_ENTRY_BATCH } from '../../stores/entries.ts';
import type { ScoringStore } from '../../stores/scoring.ts';
import type { CurrentItem, DemandItems, EntryRef } from './demand-items.ts';
import { refKey } from './demand-items.ts';
import {
  dataRecordsOf,
  entryRecordOf,
  profileOf,
  rejectionOf,
  scoringRowsOf,
  staleReason,
} from './records.ts';

// The spec's saveEntries, as a batch handler (batches of 25, one outcome per change):
//   1. read the current item of every change (one consistent BatchGetItem); when that read fails,
//      no change of the batch is replicated unvalidated: all fail retriably (in-place attempts,
//      then the retry tiers);
//   2. a change that no longer matches its item (another version or date.updated, item gone, or a
//      deleted item back) is rejected: one record on the rejected topic (counted as
//      regflow_records_out_total of that topic), a warning, no retry (Scenario 3);
//   3. the valid ones, split into puts and deletions per campaign, go to the entry store in calls of
//      at most 25 (a failed call fails its changes alone, retriably: the runtime's 3 in-place
//      attempts with exponential backoff are the spec's 3 retries, then the retry topics);
//   4. per change the entry store holds: the fan's scoring rows (upsert the selected markets, drop
//      the others; all rows on a deletion) and, side by side, needsReplication unflagged by a
//      conditional write that only succeeds if the item still has this version and date.updated;
//   5. outputs: the fan's profile (users.upserts), REGISTRATION / REGISTERED_MARKET (data.records).
// Every effect is guarded by the entry version, so a redelivered or late change never moves the
// entry store or the scoring rows backwards: "already there" (stale in the store) counts as done.
// Counted (ctx.metrics → regflow_handler_outcomes_total): `stale-rejected` (step 2), and per entry
// store write `applied` or `already-current` (the store held that version or a newer one).

/** Longest wait for one store or DynamoDB call before the change fails retriably (a hung call never blocks the partition). */
export const CALL_TIMEOUT_MS = 15_000;

export interface EntryReplicatorResources {
  demand: DemandItems;
  entries: EntryStore;
  scoring: ScoringStore;
}

export interface ReplicatorTopics {
  users: string;
  dataRecords: string;
  rejected: string;
}

const refOf = (c: EntryChange): EntryRef => ({
  table: c.table,
  globalUserId: c.globalUserId,
  campaignId: c.campaignId,
});

const retriable = (what: string, err: unknown) =>
  err instanceof RetriableError ? err : new RetriableError(`${what}: ${describeError(err)}`, { cause: err });

export function entryReplicatorHandler(
  topics: ReplicatorTopics,
  now: () => number = Date.now,
  callTimeoutMs = CALL_TIMEOUT_MS,
): BatchHandler<EntryChange, EntryReplicatorResources> {
  return async (records, ctx) => {
    const { demand, entries, scoring } = ctx.resources;
    const outcomes: BatchItemOutcome[] = new Array(records.length);
    const t0 = performance.now();

    // 1. Validate against the current items.
    let current: Map<string, CurrentItem | null>;
    try {
      current = await withTimeout(
        demand.current(records.map((r) => refOf(r.value))),
        callTimeoutMs,
        'demand-table read',
      );
    } catch (err) {
      const error = retriable('demand-table read failed; changes not replicated unvalidated', err);
      ctx.log.warn({ err: describeError(err), records: records.length }, error.message);
      return records.map(() => failed(error));
    }

    const tRead = performance.now();
    // 2. Reject stale changes; group the valid ones for the store.
    const groups = new Map<string, number[]>();
    records.forEach((r, i) => {
      const change = r.value;
      const item = current.get(refKey(refOf(change))) ?? null;
      const reason = staleReason(change, item);
      if (reason !== null) {
        ctx.log.warn(
          {
            recordId: change.recordId,
            campaignId: change.campaignId,
            kind: change.kind,
            reason,
            changeVersion: change.version,
            currentVersion: item?.version ?? null,
          },
          'entry change rejected: it no longer matches the demand-table (not retried)',
        );
        const rejection = rejectionOf(change, reason, item, now());
        outcomes[i] = succeeded([{ topic: topics.rejected, key: r.key, value: rejection }]);
        ctx.metrics?.count('stale-rejected');
        return;
      }
      const group = `${change.kind}\u0000${change.campaignId}`;
      groups.set(group, [...(groups.get(group) ?? []), i]);
    });

    // 3. Write puts and deletions, at most 25 per call; a failed call fails its changes alone.
    const written: number[] = [];
    await Promise.all(
      [...groups.values()].flatMap((indexes) => {
        const calls: number[][] = [];
        for (let i = 0; i < indexes.length; i += MAX_ENTRY_BATCH)
          calls.push(indexes.slice(i, i + MAX_ENTRY_BATCH));
        return calls.map(async (call) => {
          const changes = call.map((i) => records[i]!.value);
          const { kind, campaignId } = changes[0]!;
          try {
            const write =
              kind === 'UPSERT'
                ? entries.upsertEntries(campaignId, changes.map(entryRecordOf))
                : entries.deleteEntries(
                    campaignId,
                    changes.map((c) => ({
                      globalUserId: c.globalUserId,
                      version: c.version,
                      deletedAt: c.updated ?? undefined,
                    })),
                  );
            const result = await withTimeout(write, callTimeoutMs, 'entry store write');
            ctx.metrics?.count('applied', result.applied.length);
            ctx.metrics?.count('already-current', result.stale.length);
            if (result.stale.length > 0)
              ctx.log.info(
                { campaignId, kind, already: result.stale.length },
                'entry store already had these versions',
              );
            written.push(...call);
          } catch (err) {
            const error = retriable(`entry store ${kind === 'UPSERT' ? 'upsert' : 'delete'} failed`, err);
            ctx.log.warn({ campaignId, kind, records: call.length, err: describeError(err) }, error.message);
            for (const i of call) outcomes[i] = failed(error);
          }
        });
      }),
    );

    const tStore = performance.now();
    // 4 + 5. Scoring rows, unflag, outputs — per change.
    await Promise.all(
      written.map(async (i) => {
        const record = records[i]!;
        const change = record.value;
        try {
          const outputs: OutputRecord[] = [];
          if (change.kind === 'UPSERT') {
            // The entry store has this version: its scoring rows and the unflag are independent
            // effects, written side by side (a failure of either retries the change, and both are
            // idempotent). Already unflagged when validated (a replay after the unflag): no write.
            const item = current.get(refKey(refOf(change)));
            const unflag = async () => {
              if (item?.needsReplication === false) return;
              if ((await demand.unflag(refOf(change), change.version, change.updated)) === 'changed')
                ctx.log.info(
                  { recordId: change.recordId },
                  'item changed since validation: left flagged for its next change',
                );
            };
            await withTimeout(
              Promise.all([
                scoring.replaceFanRows(
                  change.campaignId,
                  change.globalUserId,
                  change.version,
                  scoringRowsOf(change),
                ),
                unflag(),
              ]),
              callTimeoutMs,
              'scoring rows and unflag',
            );
            outputs.push({ topic: topics.users, key: change.globalUserId, value: profileOf(change) });
          } else {
            await withTimeout(
              scoring.deleteFanRows(change.campaignId, change.globalUserId, change.version),
              callTimeoutMs,
              'scoring rows',
            );
          }
          const key = `${change.campaignId}:${change.globalUserId}`;
          for (const value of dataRecordsOf(change)) outputs.push({ topic: topics.dataRecords, key, value });
          outcomes[i] = succeeded(outputs);
        } catch (err) {
          const error = retriable('scoring rows or unflag failed', err);
          ctx.log.warn({ recordId: change.recordId, err: describeError(err) }, error.message);
          outcomes[i] = failed(error);
        }
      }),
    );
    const tEnd = performance.now();
    ctx.log.info(
      {
        records: records.length,
        written: written.length,
        readMs: Math.round(tRead - t0),
        storeMs: Math.round(tStore - tRead),
        effectsMs: Math.round(tEnd - tStore),
      },
      'entry changes replicated',
    );
    return outcomes;
  };
}
