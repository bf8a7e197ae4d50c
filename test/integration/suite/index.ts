/**
 * The integration suite, written once and run against each backend of `../backends.ts`:
 *
 * 1. bootstrap: every resource of the config created as asked; a second run finds them all;
 * 2. fixtures → Kinesis → bronze on S3 through the `run` and `consume` roles: 283 envelopes, once each;
 * 3. the hourly scheduler drives Glue (job runs, crawler) and the quality query, hours done in DynamoDB;
 * 4. an Athena round trip through AthenaQueryEngine.
 *
 * Scenarios share one started backend and run in this order; each one bootstraps first (once for all)
 * and does not need the others' output, so `-t` can pick one.
 */
import { afterAll, beforeAll, describe } from 'vitest';
import type { Backend } from '../backends.js';
import { athenaScenario } from './athena.js';
import { bootstrapScenario } from './bootstrap.js';
import { SuiteContext } from './context.js';
import { hourlyScenario } from './hourly.js';
import { pipelineScenario } from './pipeline.js';

export { SuiteContext } from './context.js';

/** Options of {@link defineBackendSuite}. */
export interface BackendSuiteOptions {
  /**
   * `true`, or why the backend cannot run here (from {@link Backend.available}, called by the test
   * file at collection time).
   */
  availability: true | string;
  /**
   * Run even when unavailable, so the suite fails with the reason instead of skipping (for the
   * Docker-free backend, which must always run). @default false
   */
  required?: boolean;
}

/**
 * Registers the suite for one backend under a `describe` titled with the backend's name. An
 * unavailable backend's describe is skipped with the reason in its title, and the reason is printed
 * with `console.warn` at collection time (vitest has no other runtime skip reason); a required one
 * runs and fails in `beforeAll` with the reason.
 */
export function defineBackendSuite(backend: Backend, options: BackendSuiteOptions): void {
  const { availability, required = false } = options;
  const reason = availability === true ? undefined : availability;
  const skip = reason !== undefined && !required;
  const title =
    reason === undefined ? backend.name : `${backend.name} (${skip ? 'skipped' : 'unavailable'}: ${reason})`;
  if (skip) console.warn(`[integration] ${title}`);

  describe.skipIf(skip)(title, () => {
    const ctx = new SuiteContext(backend);
    beforeAll(async () => {
      if (reason !== undefined) throw new Error(`backend ${backend.name} is unavailable: ${reason}`);
      await ctx.start();
    }, 300_000);
    afterAll(async () => {
      await ctx.stop();
    }, 120_000);

    bootstrapScenario(ctx);
    pipelineScenario(ctx);
    hourlyScenario(ctx);
    athenaScenario(ctx);
  });
}
