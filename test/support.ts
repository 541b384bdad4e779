import { randomBytes } from 'node:crypto';
import { loadConfig } from '../config/index.ts';

export const config = loadConfig();

/** A name no earlier run used, so tests never see each other's data. */
export function uniqueName(prefix: string): string {
  return `${prefix}-${Date.now().toString(36)}-${randomBytes(3).toString('hex')}`;
}
