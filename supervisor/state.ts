import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { ComponentStatus } from './supervisor.ts';

// The supervisor's state on disk, so other commands of the same checkout (`npm run infra --
// status`) know the pipeline's processes: the supervisor's pid and each component's pid and state.
// Written on every change (write to a temporary file, then rename: a reader never sees half a
// file), removed when the supervisor has stopped everything.

export interface PipelineState {
  supervisorPid: number;
  startedAt: string;
  updatedAt: string;
  components: ComponentStatus[];
}

/** Where `npm start` keeps it: next to the services' pid files. */
export const pipelineStateFile = (dataDir: string) => join(dataDir, 'run', 'pipeline.json');

export function writePipelineState(file: string, state: PipelineState): void {
  mkdirSync(dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(state, null, 2)}\n`);
  renameSync(tmp, file);
}

/** The state, or null when there is none (never started, stopped) or it cannot be read. */
export function readPipelineState(file: string): PipelineState | null {
  try {
    const state = JSON.parse(readFileSync(file, 'utf8')) as PipelineState;
    return Number.isInteger(state.supervisorPid) && Array.isArray(state.components) ? state : null;
  } catch {
    return null;
  }
}

export function removePipelineState(file: string): void {
  rmSync(file, { force: true });
}
