// Preloaded into each pipeline process by `npm run bench -- pipeline-rss` (NODE_OPTIONS=--import):
// every second it writes the process's memory as node and V8 see it — RSS, heap used / total per
// space, external, array buffers — and its open handles by kind (TCP sockets, timers…) to
// $REGFLOW_MEMORY_PROBE_DIR/<pid>.json. Plain JavaScript: the compiled components run without tsx.
import { renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { getHeapSpaceStatistics, getHeapStatistics } from 'node:v8';

const dir = process.env.REGFLOW_MEMORY_PROBE_DIR;
if (dir) {
  const file = join(dir, `${process.pid}.json`);
  const write = () => {
    const resources = {};
    for (const r of process.getActiveResourcesInfo()) resources[r] = (resources[r] ?? 0) + 1;
    const spaces = {};
    for (const s of getHeapSpaceStatistics())
      spaces[s.space_name] = { size: s.space_size, used: s.space_used_size, physical: s.physical_space_size };
    const heap = getHeapStatistics();
    const probe = {
      pid: process.pid,
      argv: process.argv.slice(2),
      at: Date.now(),
      memory: process.memoryUsage(),
      heap: {
        totalPhysical: heap.total_physical_size,
        used: heap.used_heap_size,
        limit: heap.heap_size_limit,
        malloced: heap.malloced_memory,
      },
      spaces,
      resources,
    };
    try {
      writeFileSync(`${file}.tmp`, JSON.stringify(probe));
      renameSync(`${file}.tmp`, file);
    } catch {
      // the bench removed the folder: it is over
    }
  };
  setInterval(write, 1_000).unref();
}
