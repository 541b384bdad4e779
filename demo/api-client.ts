import { signToken } from '../api/auth.ts';
import { describeError, RetriableError } from '../lib/errors.ts';
import { createRetry } from '../lib/retry.ts';
import type { Registration } from './fans.ts';

// The demo talks to the registration + admin API the way a web app and a campaign manager would:
// over HTTP, with HS256 tokens signed with the configured secret (REGFLOW_JWT_SECRET).

export interface ApiAnswer<T = Record<string, unknown>> {
  status: number;
  body: T;
}

export class ApiClient {
  private adminToken: Promise<string> | undefined;

  constructor(
    readonly baseUrl: string,
    private readonly secret: string,
  ) {}

  private async call<T>(method: string, path: string, token: string, body?: unknown): Promise<ApiAnswer<T>> {
    const res = await fetch(`${this.baseUrl}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${token}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await res.text();
    let parsed: unknown = {};
    try {
      parsed = text ? JSON.parse(text) : {};
    } catch {
      parsed = { text };
    }
    return { status: res.status, body: parsed as T };
  }

  private admin(): Promise<string> {
    this.adminToken ??= signToken(this.secret, { sub: 'demo-campaign-manager', role: 'admin' }, '6h');
    return this.adminToken;
  }

  /** Admin: create or update a campaign; throws unless 200. */
  async applyCampaign(definition: { id: string } & Record<string, unknown>): Promise<void> {
    const r = await this.call('PUT', `/v1/admin/campaigns/${definition.id}`, await this.admin(), definition);
    if (r.status !== 200)
      throw new Error(`campaign ${definition.id}: HTTP ${r.status} ${JSON.stringify(r.body)}`);
  }

  /** Admin: change a campaign's status; throws unless 200. */
  async setStatus(campaignId: string, status: string): Promise<void> {
    const r = await this.call('POST', `/v1/admin/campaigns/${campaignId}/status`, await this.admin(), {
      status,
    });
    if (r.status !== 200)
      throw new Error(`status of ${campaignId}: HTTP ${r.status} ${JSON.stringify(r.body)}`);
  }

  /** Admin: import invites; throws unless 200. */
  async importInvites(campaignId: string, emails: string[]): Promise<void> {
    const r = await this.call('POST', `/v1/admin/campaigns/${campaignId}/invites`, await this.admin(), {
      emails,
    });
    if (r.status !== 200)
      throw new Error(`invites of ${campaignId}: HTTP ${r.status} ${JSON.stringify(r.body)}`);
  }

  /** A fan registers (or changes the entry): 200 eligible, 422 not eligible, anything else is returned as is. */
  async register(campaignId: string, fan: string, entry: Registration): Promise<ApiAnswer> {
    const token = await signToken(this.secret, { sub: fan }, '1h');
    return this.call('PUT', `/v1/campaigns/${campaignId}/entries/${fan}`, token, entry);
  }

  async getEntry(campaignId: string, fan: string): Promise<ApiAnswer> {
    const token = await signToken(this.secret, { sub: fan }, '1h');
    return this.call('GET', `/v1/campaigns/${campaignId}/entries/${fan}`, token);
  }

  async healthy(): Promise<boolean> {
    try {
      return (await fetch(`${this.baseUrl}/healthz`)).ok;
    } catch {
      return false;
    }
  }
}

export interface BulkOutcome {
  ok: number;
  refused: number;
  failed: number;
  /** The first few answers other than 200, for the report. */
  samples: string[];
}

/**
 * A registration that fails on the network or with a 5xx (the API's 503: a backing service busy)
 * is tried again with backoff, up to 6 attempts over about 8 s. (A retried write that had landed
 * makes a second version: the replicator rejects the first as stale, which the summary counts.)
 */
const registrationRetry = createRetry({
  attempts: 6,
  initialDelayMs: 250,
  maxDelayMs: 4_000,
  shouldRetry: (err) => err instanceof RetriableError,
});

/**
 * Registers fans [0, count) with `concurrency` requests in flight (see registrationRetry). Calls
 * `onProgress(done)` after every answer.
 */
export async function registerMany(
  api: ApiClient,
  campaignId: string,
  count: number,
  fanOf: (i: number) => { id: string; entry: Registration },
  opts: { concurrency: number; onProgress: (done: number, outcome: BulkOutcome) => void },
): Promise<BulkOutcome> {
  const outcome: BulkOutcome = { ok: 0, refused: 0, failed: 0, samples: [] };
  let next = 0;
  const note = (s: string) => {
    if (outcome.samples.length < 5) outcome.samples.push(s);
  };
  const worker = async () => {
    for (let i = next++; i < count; i = next++) {
      const { id, entry } = fanOf(i);
      try {
        const { value: r } = await registrationRetry(async () => {
          const answer = await api.register(campaignId, id, entry).catch((err: unknown) => {
            throw new RetriableError(describeError(err), { cause: err });
          });
          if (answer.status >= 500)
            throw new RetriableError(`HTTP ${answer.status} ${JSON.stringify(answer.body)}`);
          return answer;
        });
        if (r.status === 200) outcome.ok++;
        else if (r.status === 422) {
          outcome.refused++;
          note(`${id}: 422 ${JSON.stringify(r.body)}`);
        } else {
          outcome.failed++;
          note(`${id}: HTTP ${r.status} ${JSON.stringify(r.body)}`);
        }
      } catch (err) {
        outcome.failed++;
        note(`${id}: ${describeError(err)}`);
      }
      opts.onProgress(outcome.ok + outcome.refused + outcome.failed, outcome);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, opts.concurrency) }, worker));
  return outcome;
}
