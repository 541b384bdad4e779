import { type ChildProcess, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { backoffDelay, DEFAULT_RETRY } from '../lib/retry.ts';
import { removePipelineState, writePipelineState } from './state.ts';

// `npm start`'s process manager: each component of the pipeline (the processors, the connector,
// the schedulers, the API) is a child process, restarted with backoff when it dies, its log
// lines merged into one stream tagged with its name. A stop (Ctrl-C, SIGTERM) is passed to every
// child once; the supervisor exits when all have, killing any that outlive the grace period.

export interface Component {
  name: string;
  command: string;
  args: readonly string[];
  env?: NodeJS.ProcessEnv;
  /** Where its /readyz answers, when it serves one. */
  readyUrl?: string;
}

export interface ComponentStatus {
  name: string;
  pid: number | undefined;
  state: 'starting' | 'running' | 'restarting' | 'stopped';
  restarts: number;
  /** What its /readyz said last when the supervisor watches it: "ready" or "not ready: why". */
  readiness?: string;
}

/** One answer of a component's /readyz: its status code, and its JSON body (empty if none). */
export interface ReadinessAnswer {
  ready: boolean;
  body: Record<string, unknown>;
}

/**
 * A /readyz answer as one line: a halted connector's state, reason and remedy; otherwise the
 * answer's JSON without its `status` (shortened).
 */
export function describeReadiness(answer: ReadinessAnswer): string {
  if (answer.ready) return 'ready';
  const { status: _status, state, reason, remedy, ...rest } = answer.body;
  if (typeof reason === 'string') {
    const head = typeof state === 'string' ? `${state}: ` : '';
    return `not ready: ${head}${reason}${typeof remedy === 'string' ? ` — remedy: ${remedy}` : ''}`;
  }
  const detail = JSON.stringify(state === undefined ? rest : { state, ...rest });
  return `not ready: ${detail.length > 500 ? `${detail.slice(0, 500)}…` : detail}`;
}

export interface SupervisorOptions {
  /** One merged log line: the component's name and what it printed. */
  onLine: (component: string, line: string, stream: 'stdout' | 'stderr') => void;
  /** The supervisor's own events (started, exited, restarting in N ms). */
  onEvent: (component: string, event: string) => void;
  /** How long a child may take to stop before it is killed. */
  stopGraceMs?: number;
  /** A child that ran this long before dying restarts without the accumulated backoff. */
  stableAfterMs?: number;
  restart?: { initialDelayMs: number; maxDelayMs: number };
  /** Keeps the components' pids and states in this file while running (supervisor/state.ts). */
  stateFile?: string;
  /**
   * Asks every running component's readyUrl this often and reports a change as an event: one that
   * stops being ready, or answers not ready with a `reason` (a halted connector), and one that is
   * ready again. Starting up (not ready, no reason yet) is not reported. Off when absent.
   */
  readinessIntervalMs?: number;
  /** Every /readyz answer that changed what the component's readiness says. */
  onReadiness?: (component: string, answer: ReadinessAnswer) => void;
}

const RESTART = { ...DEFAULT_RETRY, initialDelayMs: 1_000, maxDelayMs: 30_000, jitter: 0.2 };

export class Supervisor {
  private readonly children = new Map<
    string,
    {
      child?: ChildProcess;
      status: ComponentStatus;
      timer?: NodeJS.Timeout;
      startedAt: number;
      streak: number;
    }
  >();
  private stopping = false;
  private readonly startedAt = new Date().toISOString();
  private readinessTimer: NodeJS.Timeout | undefined;
  private polling = false;

  constructor(
    private readonly components: readonly Component[],
    private readonly opts: SupervisorOptions,
  ) {
    const names = new Set<string>();
    for (const c of components) {
      if (names.has(c.name)) throw new Error(`two components are named '${c.name}'`);
      names.add(c.name);
    }
  }

  start(): void {
    for (const c of this.components) {
      this.children.set(c.name, {
        status: { name: c.name, pid: undefined, state: 'starting', restarts: 0 },
        startedAt: 0,
        streak: 0,
      });
      this.launch(c);
    }
    const every = this.opts.readinessIntervalMs;
    if (every !== undefined && this.components.some((c) => c.readyUrl)) {
      this.readinessTimer = setInterval(() => void this.pollReadiness(), every);
      this.readinessTimer.unref();
    }
  }

  /** One round of /readyz questions; a component that does not answer (starting, gone) is skipped. */
  private async pollReadiness(): Promise<void> {
    if (this.polling || this.stopping) return;
    this.polling = true;
    try {
      await Promise.all(
        this.components.map(async (c) => {
          const entry = this.children.get(c.name);
          if (!c.readyUrl || entry?.status.state !== 'running') return;
          let answer: ReadinessAnswer;
          try {
            const res = await fetch(c.readyUrl, { signal: AbortSignal.timeout(2_000) });
            const body = (await res.json().catch(() => ({}))) as unknown;
            answer = {
              ready: res.ok,
              body: typeof body === 'object' && body !== null ? (body as Record<string, unknown>) : {},
            };
          } catch {
            return;
          }
          // It may have exited (or the supervisor begun stopping) while the answer was on its way.
          if (this.stopping || (entry.status.state as ComponentStatus['state']) !== 'running') return;
          const said = describeReadiness(answer);
          const before = entry.status.readiness;
          if (said === before) return;
          // Starting up: not ready, for no stated reason, and never ready yet. Not news.
          const starting = !answer.ready && before === undefined && answer.body.reason === undefined;
          if (starting) return;
          entry.status.readiness = said;
          this.saveState();
          // The first "ready" is the normal start; a change after it (or a reason) is reported.
          if (!(answer.ready && before === undefined))
            this.opts.onEvent(c.name, answer.ready ? 'ready again' : said);
          this.opts.onReadiness?.(c.name, answer);
        }),
      );
    } finally {
      this.polling = false;
    }
  }

  status(): ComponentStatus[] {
    return [...this.children.values()].map((e) => ({ ...e.status }));
  }

  pids(): number[] {
    return [...this.children.values()].flatMap((e) =>
      e.child?.pid && e.status.state !== 'stopped' ? [e.child.pid] : [],
    );
  }

  /** Stops every component; resolves once all have exited. */
  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    if (this.readinessTimer) clearInterval(this.readinessTimer);
    const grace = this.opts.stopGraceMs ?? 35_000;
    await Promise.all(
      [...this.children.values()].map(async (entry) => {
        if (entry.timer) clearTimeout(entry.timer);
        const child = entry.child;
        if (!child || child.exitCode !== null || child.signalCode !== null) {
          entry.status.state = 'stopped';
          return;
        }
        const exited = new Promise<void>((r) => child.once('exit', () => r()));
        child.kill(signal);
        const killer = setTimeout(() => {
          this.opts.onEvent(entry.status.name, `did not stop within ${grace} ms: killing it`);
          child.kill('SIGKILL');
        }, grace);
        await exited;
        clearTimeout(killer);
        entry.status.state = 'stopped';
      }),
    );
    if (this.opts.stateFile) removePipelineState(this.opts.stateFile);
  }

  private saveState(): void {
    if (!this.opts.stateFile || this.stopping) return;
    writePipelineState(this.opts.stateFile, {
      supervisorPid: process.pid,
      startedAt: this.startedAt,
      updatedAt: new Date().toISOString(),
      components: this.status(),
    });
  }

  private launch(c: Component): void {
    const entry = this.children.get(c.name)!;
    const child = spawn(c.command, [...c.args], {
      env: { ...process.env, ...c.env },
      stdio: ['ignore', 'pipe', 'pipe'],
      // Its own process group: a Ctrl-C in the terminal reaches the supervisor, which passes it
      // on once (a second one would read as "stop now").
      detached: true,
    });
    entry.child = child;
    entry.startedAt = Date.now();
    entry.status.pid = child.pid;
    entry.status.state = 'running';
    this.opts.onEvent(c.name, `started (pid ${child.pid})`);
    this.saveState();
    for (const [stream, name] of [
      [child.stdout, 'stdout'],
      [child.stderr, 'stderr'],
    ] as const) {
      createInterface({ input: stream }).on('line', (line) => this.opts.onLine(c.name, line, name));
    }
    child.once('error', (err) => this.opts.onEvent(c.name, `cannot start: ${err.message}`));
    child.once('exit', (code, signal) => {
      if (this.stopping) {
        entry.status.state = 'stopped';
        this.opts.onEvent(c.name, `stopped (${signal ?? `exit ${code}`})`);
        return;
      }
      const ranMs = Date.now() - entry.startedAt;
      delete entry.status.readiness;
      entry.streak = ranMs >= (this.opts.stableAfterMs ?? 60_000) ? 1 : entry.streak + 1;
      const policy = { ...RESTART, ...this.opts.restart };
      const delayMs = backoffDelay(policy, entry.streak);
      entry.status.state = 'restarting';
      entry.status.restarts++;
      this.saveState();
      this.opts.onEvent(
        c.name,
        `exited (${signal ?? `exit ${code}`}) after ${ranMs} ms; restarting in ${delayMs} ms`,
      );
      entry.timer = setTimeout(() => {
        if (!this.stopping) this.launch(c);
      }, delayMs);
      entry.timer.unref();
    });
  }
}
