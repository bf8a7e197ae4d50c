/**
 * Shard discovery: lists the stream's shards every `shardDiscoveryIntervalSecs`, and at once when a
 * shard ended (its children must be read next), retrying a failed listing with backoff, and hands
 * every listing to the writer, which starts readers for the new shards.
 */
import type { Shard } from '@aws-sdk/client-kinesis';
import { describeError } from '../../errors.js';
import type { Logger } from '../../log.js';
import { fullJitterDelayMs, sleepUntilAborted as sleep } from '../../retry/index.js';
import type { BronzeWriterConfig } from './config.js';

/** What the discovery loop needs from its writer. */
export interface DiscoveryHost {
  readonly config: BronzeWriterConfig;
  readonly log: Logger;
  /** Lists every shard. @throws ConsumerError */
  listShards(): Promise<Shard[]>;
  /** Starts readers for the shards not read yet. */
  addShards(shards: Shard[]): void;
  /** Counts one failed attempt. */
  countError(err: unknown): void;
}

/** The discovery loop of one writer. Start it with {@link run}; it ends when `stop` aborts. */
export class ShardDiscovery {
  /** True when a listing was asked for (a shard ended) and has not started yet. */
  private requested = false;
  /** Ends the loop's current wait early (set while it waits). */
  private wake?: () => void;

  constructor(
    private readonly host: DiscoveryHost,
    private readonly stop: AbortSignal,
  ) {}

  /** Lists the shards now instead of at the next interval (a shard ended). */
  request(): void {
    if (this.stop.aborted) return;
    this.requested = true;
    this.wake?.();
  }

  /**
   * Until `stop` aborts: waits `shardDiscoveryIntervalSecs` (or less when {@link request}ed), lists
   * the shards, retrying a failed listing with backoff until it succeeds, and hands them to the
   * host. Never rejects.
   */
  async run(): Promise<void> {
    const stop = this.stop;
    const cfg = this.host.config;
    while (!stop.aborted) {
      if (!this.requested) await this.waitInterval(cfg.shardDiscoveryIntervalSecs * 1000);
      this.requested = false;
      for (let attempt = 0; !stop.aborted; attempt++) {
        try {
          this.host.addShards(await this.host.listShards());
          break;
        } catch (err) {
          if (stop.aborted) return;
          this.host.countError(err);
          const delay = fullJitterDelayMs(attempt + 1, cfg.retryBaseDelayMs, cfg.retryMaxDelayMs);
          this.host.log.warn(
            { err: describeError(err), attempt: attempt + 1, delayMs: Math.round(delay) },
            'cannot list shards: retrying',
          );
          try {
            await sleep(delay, stop);
          } catch {
            return;
          }
        }
      }
    }
  }

  private waitInterval(ms: number): Promise<void> {
    const stop = this.stop;
    return new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        stop.removeEventListener('abort', done);
        this.wake = undefined;
        resolve();
      };
      const timer = setTimeout(done, ms);
      stop.addEventListener('abort', done, { once: true });
      this.wake = done;
    });
  }
}
