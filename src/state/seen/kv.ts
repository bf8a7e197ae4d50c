import type { StateStore } from '../index.js';
import { lastPerEntity, type SeenEntry, type SeenStore } from './types.js';

/**
 * A {@link SeenStore} over any key/value {@link StateStore}: one key per entity,
 * `seen/<source>/<entity>`, holding the record id. Reads and writes are per key, so the work is
 * proportional to the page, but every key costs one store call: it exists for stores without a
 * native seen store (test doubles, custom stores). The file and DynamoDB stores bring their own
 * ({@link SqliteSeenStore}, {@link DynamoDbSeenStore}).
 */
export class KeyValueSeenStore implements SeenStore {
  constructor(private readonly state: StateStore) {}

  private key(source: string, entity: string): string {
    return `seen/${source}/${entity}`;
  }

  async getMany(source: string, entities: readonly string[]): Promise<Map<string, string>> {
    const out = new Map<string, string>();
    const values = await Promise.all(entities.map((e) => this.state.get<string>(this.key(source, e))));
    entities.forEach((e, i) => {
      const v = values[i];
      if (v !== undefined) out.set(e, v.value);
    });
    return out;
  }

  async putMany(source: string, entries: readonly SeenEntry[]): Promise<void> {
    for (const e of lastPerEntity(entries)) await this.state.put(this.key(source, e.entity), e.id);
  }

  async close(): Promise<void> {}
}
