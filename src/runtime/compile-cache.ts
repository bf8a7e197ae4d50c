/**
 * Turns on Node's on-disk compile cache (`module.enableCompileCache`, Node >= 22.1) for every module
 * loaded after this one: the second and later starts skip compiling the AWS SDK, zod, undici and
 * our own modules again (about 0.15 CPU-s of the `run` role's start-up, issue 8). Imported first by
 * `src/cli.ts`. The cache lives in `NODE_COMPILE_CACHE` when set, else in the OS temp folder
 * (`node-compile-cache`); Node checks each entry against the source's hash, so a rebuilt `dist/`
 * is never served stale. A folder that cannot be written only disables the cache: Node reports it
 * in the returned status, never throws, and start-up is then as without it.
 */
import module from 'node:module';

module.enableCompileCache?.();
