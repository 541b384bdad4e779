import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { describeError } from '../lib/errors.ts';
import type { CampaignStore } from '../stores/campaigns.ts';
import type { Campaign } from './campaign.ts';

// The campaign cache of the eligibility check: Redis in front of the campaign store, plus a parsed
// copy in each API replica's memory.
//
// Invalidation: versioned keys, not pub/sub. Each campaign is one Redis hash `{prefix}campaign:{id}`
// with fields `v` (the campaign's version, 0 = no such campaign) and `data` (campaign + invite list).
// Every request asks Redis for `v` only (a few bytes) and uses the replica's parsed copy while the
// version matches; a different version makes it read `data` again. So a change reaches every replica
// on its next request, with nothing to miss: pub/sub is fire-and-forget, and a replica that is
// reconnecting while a message goes out would serve a stale campaign until restarted.
// Writes into Redis go through one Lua compare-and-set that only ever raises `v`: a reader refilling
// from MongoDB with an old version cannot overwrite a newer one a writer just set (the classic
// delete-then-stale-refill race). Writers refresh after each change; the outbox relay refreshes
// again after publishing, so a writer that dies between its MongoDB write and the refresh only
// delays the change by one relay pass. Keys expire (1 h; absent campaigns 30 s) to bound the damage
// of anything else going wrong. Redis unreachable: read MongoDB directly (slower, still correct).

export interface CachedCampaign {
  campaign: Campaign;
  /** Normalized invite emails. */
  invites: ReadonlySet<string>;
}

export interface CampaignReader {
  get(campaignId: string): Promise<CachedCampaign | undefined>;
}

const SET_IF_NEWER = `
local cur = redis.call('HGET', KEYS[1], 'v')
if cur and tonumber(cur) >= tonumber(ARGV[1]) and tonumber(ARGV[1]) > 0 then return 0 end
if cur and tonumber(ARGV[1]) == 0 and tonumber(cur) > 0 then return 0 end
redis.call('HSET', KEYS[1], 'v', ARGV[1], 'data', ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return 1`;

interface Local {
  version: number;
  value: CachedCampaign | undefined;
}

const MAX_LOCAL = 10_000;

export class CampaignCache implements CampaignReader {
  private readonly local = new Map<string, Local>();
  private readonly loading = new Map<string, Promise<CachedCampaign | undefined>>();
  private readonly ttlMs: number;
  private readonly absentTtlMs: number;

  constructor(
    private readonly redis: Redis,
    private readonly store: CampaignStore,
    private readonly options: { prefix: string; ttlMs?: number; absentTtlMs?: number; logger?: Logger },
  ) {
    this.ttlMs = options.ttlMs ?? 3_600_000;
    this.absentTtlMs = options.absentTtlMs ?? 30_000;
  }

  key(campaignId: string): string {
    return `${this.options.prefix}campaign:${campaignId}`;
  }

  async get(campaignId: string): Promise<CachedCampaign | undefined> {
    const key = this.key(campaignId);
    let version: string | null;
    try {
      version = await this.redis.hget(key, 'v');
    } catch (err) {
      this.options.logger?.warn(
        { campaignId, err: describeError(err) },
        'campaign cache unreachable; reading MongoDB',
      );
      return this.load(campaignId);
    }
    const local = this.local.get(campaignId);
    if (version !== null && local && local.version === Number(version)) return local.value;
    if (version !== null) {
      const [v, data] = await this.redis.hmget(key, 'v', 'data');
      if (v != null && data != null) return this.remember(campaignId, Number(v), data);
    }
    return this.refill(campaignId);
  }

  /** Reads the campaign from the store and raises the cached version to it (writers call this). */
  async refresh(campaignId: string): Promise<void> {
    await this.refill(campaignId);
  }

  private refill(campaignId: string): Promise<CachedCampaign | undefined> {
    const pending = this.loading.get(campaignId);
    if (pending) return pending;
    const promise = (async () => {
      const value = await this.load(campaignId);
      const version = value?.campaign.version ?? 0;
      const data = value ? serialize(value) : '';
      try {
        await this.redis.eval(
          SET_IF_NEWER,
          1,
          this.key(campaignId),
          String(version),
          data,
          String(value ? this.ttlMs : this.absentTtlMs),
        );
      } catch (err) {
        this.options.logger?.warn({ campaignId, err: describeError(err) }, 'campaign cache refill failed');
      }
      this.setLocal(campaignId, { version, value });
      return value;
    })().finally(() => this.loading.delete(campaignId));
    this.loading.set(campaignId, promise);
    return promise;
  }

  private async load(campaignId: string): Promise<CachedCampaign | undefined> {
    const campaign = await this.store.get(campaignId);
    if (!campaign) return undefined;
    const invites = campaign.gate.inviteOnly ? await this.store.listInvites(campaignId) : [];
    return { campaign, invites: new Set(invites) };
  }

  private remember(campaignId: string, version: number, data: string): CachedCampaign | undefined {
    const value = data === '' ? undefined : deserialize(data);
    this.setLocal(campaignId, { version, value });
    return value;
  }

  private setLocal(campaignId: string, entry: Local): void {
    if (this.local.size >= MAX_LOCAL && !this.local.has(campaignId)) this.local.clear();
    this.local.set(campaignId, entry);
  }
}

function serialize(value: CachedCampaign): string {
  return JSON.stringify({ campaign: value.campaign, invites: [...value.invites] });
}

function deserialize(data: string): CachedCampaign {
  const parsed = JSON.parse(data) as { campaign: Campaign; invites: string[] };
  return { campaign: parsed.campaign, invites: new Set(parsed.invites) };
}
