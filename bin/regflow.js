#!/usr/bin/env node
// The `regflow` command: runs cli/regflow.ts through tsx's loader (no build step).
import { register } from 'tsx/esm/api';

register();
await import('../cli/regflow.ts');
