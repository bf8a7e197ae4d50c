/**
 * Pure batch forming for PutRecords, within the limits of the Kinesis PutRecords API reference:
 * at most 500 records and 5 MiB per call, each record at most 1 MiB, where a record's size is its
 * data plus its partition key in UTF-8 bytes, and a partition key is 1-256 characters.
 * No I/O, no clock: the sink and the property tests drive these functions.
 */

import type { OutgoingRecord } from '../types.js';
import { InvalidPartitionKeyError, type ProducerError, RecordTooLargeError } from './errors.js';

export { fullJitterDelayMs } from '../../retry/index.js';
export {
  type BatchLimits,
  type Selection,
  type SelectOptions,
  type Sized,
  selectBatch,
  splitIntoBatches,
} from '../engine/batching.js';

/** Partition key length bounds (PutRecords API reference: "Minimum length of 1. Maximum length of 256."). */
export const PARTITION_KEY_MIN_CHARS = 1;
export const PARTITION_KEY_MAX_CHARS = 256;

/** UTF-8 bytes of a partition key. */
export function partitionKeyBytes(partitionKey: string): number {
  return Buffer.byteLength(partitionKey, 'utf8');
}

/** The size Kinesis counts for a record: data bytes plus the partition key's UTF-8 bytes. */
export function recordBytes(record: Pick<OutgoingRecord, 'partitionKey' | 'data'>): number {
  return record.data.byteLength + partitionKeyBytes(record.partitionKey);
}

/** Partition key length in characters (Unicode code points). */
export function partitionKeyChars(partitionKey: string): number {
  let n = 0;
  for (const _ of partitionKey) n++;
  return n;
}

/**
 * Checks one record against the per-record limits.
 * @param maxRecordBytes - limit on data plus partition key (AWS: 1 MiB).
 * @returns the error to dead-letter the record with, or `undefined` when it may be sent.
 */
export function validateRecord(
  record: Pick<OutgoingRecord, 'partitionKey' | 'data'>,
  maxRecordBytes: number,
): ProducerError | undefined {
  const chars = partitionKeyChars(record.partitionKey);
  if (chars < PARTITION_KEY_MIN_CHARS || chars > PARTITION_KEY_MAX_CHARS)
    return new InvalidPartitionKeyError(chars);
  const keyBytes = partitionKeyBytes(record.partitionKey);
  const total = record.data.byteLength + keyBytes;
  if (total > maxRecordBytes)
    return new RecordTooLargeError(total, record.data.byteLength, keyBytes, maxRecordBytes);
  return undefined;
}
