/**
 * Shard checkpoints in the state store, under `checkpoint/<consumer>/<stream>/<shardId>`, written
 * with conditional writes so that two writers never both own a shard.
 */
import { LeaseLostError } from '../../coordination/errors.js';
import { describeError, isRetriable, StateConflictError } from '../../errors.js';
import type { StateStore } from '../../state/index.js';
import { CheckpointError, ShardOwnershipError, storageClassOf } from './errors.js';

/** A shard checkpoint as stored in the state store. */
export interface ShardCheckpoint {
  /** Last sequence number whose record is durably in the lake (or the dead-letter location). */
  sequenceNumber?: string;
  /** `ApproximateArrivalTimestamp` of that record, epoch milliseconds. */
  approximateArrivalMs?: number;
  /** True once a closed shard was read to its end: it is never read again. */
  shardEnd?: boolean;
  /** When the checkpoint was written, ISO-8601 UTC. */
  updatedAt: string;
}

/** The state-store key of a shard's checkpoint: `checkpoint/<consumer>/<stream>/<shardId>`. */
export function checkpointKey(consumer: string, streamName: string, shardId: string): string {
  return `checkpoint/${consumer}/${streamName}/${shardId}`;
}

/** One shard's checkpoint: read once, then written only if no other writer wrote it since. */
export class CheckpointStore {
  /** The version read or last written (0: none yet). */
  private version = 0;

  constructor(
    private readonly state: StateStore,
    readonly key: string,
  ) {}

  /** Reads the checkpoint and remembers its version. @throws CheckpointError */
  async read(): Promise<ShardCheckpoint | undefined> {
    try {
      const stored = await this.state.get<ShardCheckpoint>(this.key);
      this.version = stored?.version ?? 0;
      return stored?.value;
    } catch (err) {
      throw new CheckpointError(`cannot read checkpoint ${this.key}: ${describeError(err)}`, {
        cause: err,
        retriable: isRetriable(err),
        failureClass: storageClassOf(err),
      });
    }
  }

  /**
   * Writes the checkpoint if its version is still the one read or last written.
   * @throws ShardOwnershipError when another writer wrote it since, or (shard leases) this task no
   * longer holds the shard's lease; CheckpointError (retriable unless
   * the state store says otherwise) when the write failed.
   */
  async write(checkpoint: ShardCheckpoint): Promise<void> {
    try {
      this.version = await this.state.put(this.key, checkpoint, { expectedVersion: this.version });
    } catch (err) {
      if (err instanceof StateConflictError || err instanceof LeaseLostError) {
        throw new ShardOwnershipError(
          `checkpoint ${this.key} was written by another writer: ${err.message}`,
          {
            cause: err,
          },
        );
      }
      throw new CheckpointError(`cannot write checkpoint ${this.key}: ${describeError(err)}`, {
        cause: err,
        retriable: isRetriable(err),
        failureClass: storageClassOf(err),
      });
    }
  }
}
