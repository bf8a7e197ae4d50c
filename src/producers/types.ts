/**
 * What every sink (Kinesis, and later Firehose and Kafka) offers the pollers. A sink accepts records,
 * holds them in a bounded buffer (callers wait when it is full: backpressure), batches them within
 * the service's limits, retries only the entries that failed, and resolves each record's delivery
 * once the service acknowledged it or once it went to the dead-letter location.
 */

/** One record to deliver. */
export interface OutgoingRecord {
  /** Source name, for metrics and dead letters. */
  source: string;
  /** Partition key (Kinesis: 1-256 characters). */
  partitionKey: string;
  /** The serialised envelope (UTF-8 JSON). */
  data: Uint8Array;
}

/** The outcome of one record. A record is never dropped: it is either delivered or dead-lettered. */
export type Delivery =
  | { status: 'delivered'; shardId?: string; sequenceNumber?: string }
  | { status: 'dead_lettered'; reason: string };

export interface Sink {
  /** Component name from config. */
  readonly name: string;
  /**
   * Connects and checks the destination exists. While the service cannot be reached (network,
   * timeouts, 5xx, throttling) it waits and retries, with `/readyz` not ready and the reason, until
   * it answers or `signal` aborts.
   * @throws ProducerError when the destination is missing or refused (a config mistake: fail fast),
   *   or when `signal` aborted the wait.
   */
  start(signal?: AbortSignal): Promise<void>;
  /**
   * Delivers records. Waits while the buffer is full (backpressure), then resolves with one
   * {@link Delivery} per record, in order, once each is acknowledged or dead-lettered.
   */
  write(records: OutgoingRecord[]): Promise<Delivery[]>;
  /** Sends everything buffered now and waits for it. */
  flush(): Promise<void>;
  /** Flushes, then stops. Records written after close are rejected. */
  close(): Promise<void>;
  /**
   * Gives up on every write not yet acknowledged (the shutdown deadline passed while the service
   * was failing): those writes reject with a retriable error, so their records are neither recorded
   * as seen nor dead-lettered and are polled again after a restart. Stops accepting writes; a
   * pending `close()` then resolves. Returns how many records were abandoned.
   */
  abandon(reason: string): number;
  /** Answers whether the downstream service is reachable (for `/readyz`). */
  ready(): Promise<boolean>;
}
