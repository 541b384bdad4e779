import { PermanentError, RetriableError } from './errors.ts';

// Incidents through the PagerDuty Events API v2 (or anything speaking it): one `trigger` event per
// call, with a dedup key the receiver uses to fold repeats into one open incident. So raising the
// same failure again (a redelivered request, the next poll failing too) opens nothing new.

export interface Incident {
  dedupKey: string;
  summary: string;
  source: string;
  component: string;
  details: Record<string, unknown>;
}

export interface Pager {
  /** false when no routing key is configured (nothing was sent). */
  trigger(incident: Incident): Promise<boolean>;
}

export interface PagerDutyOptions {
  url: string;
  routingKey: string;
  timeoutMs?: number;
  fetch?: typeof fetch;
}

export class PagerDutyEvents implements Pager {
  constructor(private readonly options: PagerDutyOptions) {}

  async trigger(incident: Incident): Promise<boolean> {
    if (this.options.routingKey === '') return false;
    const body = {
      routing_key: this.options.routingKey,
      event_action: 'trigger',
      dedup_key: incident.dedupKey,
      payload: {
        summary: incident.summary.slice(0, 1024),
        source: incident.source,
        severity: 'critical',
        component: incident.component,
        custom_details: incident.details,
      },
    };
    let res: Response;
    try {
      res = await (this.options.fetch ?? fetch)(this.options.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
        signal: AbortSignal.timeout(this.options.timeoutMs ?? 10_000),
      });
    } catch (err) {
      throw new RetriableError(`PagerDuty events endpoint unreachable: ${(err as Error).message}`, {
        cause: err,
      });
    }
    if (res.status === 202 || res.ok) return true;
    const text = (await res.text().catch(() => '')).slice(0, 300);
    const message = `PagerDuty events endpoint answered ${res.status}: ${text}`;
    if (res.status === 429 || res.status >= 500) throw new RetriableError(message);
    throw new PermanentError(message);
  }
}

/** In-memory twin for handler tests. */
export class MemoryPager implements Pager {
  readonly incidents: Incident[] = [];
  async trigger(incident: Incident): Promise<boolean> {
    this.incidents.push(incident);
    return true;
  }
}
