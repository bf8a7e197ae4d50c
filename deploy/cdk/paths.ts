import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';

/**
 * The repository root: the nearest ancestor of `from` holding the `Dockerfile` and `src/glue/jobs`.
 * Works from `deploy/cdk` (TypeScript run directly) and from a compiled copy anywhere below the root.
 * @throws Error when no ancestor qualifies.
 */
export function findRepoRoot(from: string = import.meta.dirname): string {
  for (let dir = from; ; dir = dirname(dir)) {
    if (existsSync(join(dir, 'Dockerfile')) && existsSync(join(dir, 'src', 'glue', 'jobs'))) return dir;
    if (dirname(dir) === dir) break;
  }
  throw new Error(`cdk: cannot find the repository root (Dockerfile and src/glue/jobs) above ${from}`);
}
