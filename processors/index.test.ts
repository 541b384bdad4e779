import { describe, expect, it } from 'vitest';
import type { Resource } from '../runtime/resources.ts';
import { PROCESSORS } from './index.ts';

// `regflow run a b c` (and `npm start`, which runs every processor in one process) opens each
// resource once per process by name and refuses two different resources of one name.

describe('PROCESSORS', () => {
  it('can all run in one process: one resource per name across every processor', () => {
    const byName = new Map<string, { resource: Resource<unknown>; processor: string }>();
    for (const [processor, make] of Object.entries(PROCESSORS)) {
      const resources = (make().resources ?? {}) as Record<string, Resource<unknown>>;
      for (const resource of Object.values(resources)) {
        const seen = byName.get(resource.name);
        if (seen)
          expect(seen.resource, `'${resource.name}' of ${processor} and ${seen.processor}`).toBe(resource);
        else byName.set(resource.name, { resource, processor });
      }
    }
    expect(byName.has('clock')).toBe(true);
  });
});
