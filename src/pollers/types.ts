/**
 * What every source (poller) offers the runtime, whatever its type. A source is built by a
 * {@link SourceFactory} from its parsed config and {@link SourceDeps}, and registered in one place
 * by its `type`.
 *
 * @module
 */
import type { z } from 'zod';
import type { DeadLetterQueue } from '../deadletter/index.js';
import type { Logger } from '../log.js';
import type { Sink } from '../producers/types.js';
import type { StateStore } from '../state/index.js';

/** The outcome of one completed poll. Counts are records unless named otherwise. */
export interface PollResult {
  /** Source name. */
  source: string;
  /** Pages requested (a 304 page included). */
  pages: number;
  /** Pages answered 304 Not Modified. */
  notModifiedPages: number;
  /** `true` when every page was answered 304 (an unchanged poll). */
  notModified: boolean;
  /** Records received from the API. */
  polled: number;
  /** Records the sink acknowledged as delivered. */
  emitted: number;
  /** Records skipped by change detection (their entity already maps to the same id). */
  unchanged: number;
  /** Records dead-lettered (by the sink, or by the poller when a record could not be wrapped). */
  deadLettered: number;
  /** Wall time of the poll, in milliseconds. */
  durationMs: number;
}

/** Running totals of a source since it was created. */
export interface SourceStats {
  /** Polls started (including failed ones and ones the breaker rejected). */
  polls: number;
  /** Polls that completed without error. */
  completedPolls: number;
  polled: number;
  emitted: number;
  unchanged: number;
  deadLettered: number;
  /** Polls that failed (a poll abandoned because the source stopped is not counted). */
  errors: number;
  /** Same as `errors`: polls that failed. */
  failedPolls: number;
  /** Pages answered 304 Not Modified. */
  notModifiedPages: number;
}

/** A {@link SourceStats} with every count at zero. */
export function zeroStats(): SourceStats {
  return {
    polls: 0,
    completedPolls: 0,
    polled: 0,
    emitted: 0,
    unchanged: 0,
    deadLettered: 0,
    errors: 0,
    failedPolls: 0,
    notModifiedPages: 0,
  };
}

/** A running source. */
export interface Source {
  /** Source name from config. */
  readonly name: string;
  /**
   * Starts polling continuously: the first poll at once, then one every `intervalSecs` plus a
   * random jitter up to `jitterSecs` (measured start to start; a poll that overruns is followed at
   * once). A failed poll is logged and counted and never stops the loop. Idempotent.
   */
  start(): void;
  /**
   * Runs one poll (every page) and resolves once every emitted record was acknowledged by the sink
   * and the state was persisted. Polls of one source never overlap: a call made during a poll runs
   * after it.
   * @throws PollerError (or another IngestError) when the poll failed; it was logged and counted.
   */
  pollOnce(): Promise<PollResult>;
  /**
   * Stops scheduling, abandons pending backoffs and requests, waits for the in-flight poll to finish
   * delivering what it already handed to the sink, then releases the source's resources. After
   * `stop()`, `pollOnce()` rejects.
   */
  stop(): Promise<void>;
  /** Running totals. */
  stats(): SourceStats;
}

/** What every source needs from the runtime. */
export interface SourceDeps {
  /** Where records go; `write()` resolves once each is delivered or dead-lettered. */
  sink: Sink;
  /** Change-detection state, ETags and cursors. */
  state: StateStore;
  /** For records the poller itself cannot hand to the sink. */
  deadLetters: DeadLetterQueue;
  logger: Logger;
  /** Clock. @default () => new Date() */
  now?: () => Date;
}

/** A registry entry: the config `type`, its zod schema, and the factory. */
export interface SourceFactory<TSchema extends z.ZodType, TDeps extends SourceDeps = SourceDeps> {
  readonly type: string;
  readonly schema: TSchema;
  create(config: z.output<TSchema>, deps: TDeps): Source;
}
