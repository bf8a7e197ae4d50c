/** Errors of lease coordination. */
import { IngestError, type IngestErrorOptions } from '../errors.js';

/**
 * This task no longer holds the lease a write is fenced on (another task took it over, or it ran out
 * without a heartbeat). Not retriable: the work stops and the new owner carries on from the state.
 */
export class LeaseLostError extends IngestError {
  constructor(message: string, options: Omit<IngestErrorOptions, 'retriable'> = {}) {
    super(message, 'state_conflict', { ...options, retriable: false });
    this.name = 'LeaseLostError';
  }
}
