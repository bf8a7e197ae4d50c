/**
 * The change-detection store ("seen-state"): for each source, entity key → the id of the last record
 * emitted for that entity. Stored one row (SQLite) or one item (DynamoDB) per entity, read and
 * written per page: the work of a page is proportional to the page, never to the state, and only
 * the entries a page changed are written (issue 7, design.md "State").
 *
 * Backends: {@link SqliteSeenStore} (`node:sqlite`, beside the file state store) and
 * {@link DynamoDbSeenStore} (the DynamoDB state table); {@link KeyValueSeenStore} adapts any
 * {@link StateStore} (one key per entity) for stores without a native one, such as test doubles.
 *
 * @module
 */

// DynamoDbSeenStore: import './dynamodb.js' directly (it loads the DynamoDB SDK).
export { KeyValueSeenStore } from './kv.js';
export { SqliteSeenStore } from './sqlite.js';
export {
  boundedSeenKey,
  lastPerEntity,
  MAX_SEEN_KEY_BYTES,
  type SeenEntry,
  type SeenStore,
} from './types.js';
