/**
 * A state store whose every write first checks a fence (that this task still holds the lease of the
 * resource the state belongs to). Reads pass through. The check is one strongly consistent read of
 * the lease before each write, not a transaction with it: a write that stalls after its check for
 * longer than the owner's safety margin (a third of a lease) could still land after a takeover. See
 * ADR 0013.
 */
import type { PutOptions, StateStore, Versioned } from '../state/index.js';
import { type SeenEntry, type SeenStore, seenStoreOf } from '../state/index.js';
import type { Fence } from './coordinator.js';

/** {@link StateStore} with a {@link Fence} checked before every put, delete and seen-store write. */
export class FencedStateStore implements StateStore {
  readonly seen: SeenStore;

  constructor(
    private readonly inner: StateStore,
    private readonly fence: Fence,
  ) {
    const seen = seenStoreOf(inner);
    this.seen = {
      getMany: (source, entities) => seen.getMany(source, entities),
      putMany: async (source: string, entries: readonly SeenEntry[]) => {
        await this.fence();
        await seen.putMany(source, entries);
      },
      // The inner store owns its seen store.
      close: async () => undefined,
    };
  }

  get<T>(key: string): Promise<Versioned<T> | undefined> {
    return this.inner.get<T>(key);
  }

  /** @throws LeaseLostError when the lease is no longer held; else as the inner store. */
  async put<T>(key: string, value: T, options?: PutOptions): Promise<number> {
    await this.fence();
    return this.inner.put(key, value, options);
  }

  /** @throws LeaseLostError when the lease is no longer held; else as the inner store. */
  async delete(key: string): Promise<void> {
    await this.fence();
    await this.inner.delete(key);
  }

  /** Does nothing: the inner store is shared and closed by its owner. */
  async close(): Promise<void> {}
}
