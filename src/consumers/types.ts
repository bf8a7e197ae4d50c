/**
 * What every stream consumer (the bronze writer, later the hourly Glue scheduler) offers the
 * runtime: start it, ask whether its dependencies answer (`/readyz`), read its counters, and stop it
 * on SIGTERM so that nothing read is lost (ECS sends SIGKILL `stopTimeout` seconds later, 30 s by
 * default).
 */

/** Counters of one consumer since it was created. All counts are cumulative and never reset. */
export interface ConsumerStats {
  /** Kinesis records returned by GetRecords (one record may hold several NDJSON envelopes). */
  kinesisRecordsRead: number;
  /** Logical records read: envelopes (lines) plus unparseable Kinesis records, each counted once. */
  recordsRead: number;
  /** Envelopes written to the lake (one NDJSON line each). A replay counts them again. */
  recordsLanded: number;
  /** Records written to the dead-letter location, with their reason. */
  recordsDeadLettered: number;
  /** Records read but not yet written (in shard buffers). */
  recordsBuffered: number;
  /** Objects written to the lake. */
  objectsWritten: number;
  /** Compressed bytes written to the lake. */
  bytesWritten: number;
  /** Uncompressed NDJSON bytes written to the lake. */
  uncompressedBytesWritten: number;
  /** Checkpoints stored. */
  checkpointsWritten: number;
  /** Failed attempts of any operation (each retry counts). */
  errors: number;
  /** Per-shard progress, by shard id. */
  shards: Record<string, ShardStats>;
}

/** Progress of one shard. */
export interface ShardStats {
  /**
   * `waiting` for parent shards, `reading`, `ended` (closed shard read to its end), `failed`: a
   * failure outlasted the retry budget (the shard keeps trying and returns to `reading` once it
   * succeeds), the shard is restarting after a failure, or another writer took it over.
   */
  state: 'waiting' | 'reading' | 'ended' | 'failed';
  /** Last checkpointed sequence number, if any. */
  checkpoint?: string;
  /** Last `MillisBehindLatest` answered by GetRecords. */
  millisBehindLatest?: number;
  /** Why the shard failed (the `/readyz` reason once marked failed), when `state` is `failed`. */
  error?: string;
}

/** A stream consumer. */
export interface Consumer {
  /** Component name from config; also the checkpoint namespace and the `consumer` metric label. */
  readonly name: string;
  /**
   * Discovers the stream's shards and starts reading them in the background; resolves once reading
   * has started. @throws ConsumerError when the stream cannot be listed or the consumer was started before.
   */
  start(): Promise<void>;
  /**
   * Stops reading, flushes every shard buffer regardless of its thresholds, writes the objects,
   * checkpoints, and resolves. Bounded in time (see the consumer's `shutdownTimeoutMs`): what could not
   * be written in time is simply not checkpointed, so it is read again on the next start.
   */
  stop(): Promise<void>;
  /** Resolves true when the stream and the lake answer and no shard has failed. Never rejects. */
  ready(): Promise<boolean>;
  /** A snapshot of the consumer's counters. */
  stats(): ConsumerStats;
}
