/**
 * How Kafka failures are classified (the KafkaJS convention: whether to retry is the error's own
 * `retriable` field, set from the protocol's error table). Shared by the sink and the consumer.
 */
import type { FailureClass } from '../errors.js';

/** What a Kafka failure means for the caller. */
export interface KafkaFailure {
  /** Whether the same call may succeed later (a broker down, a leader election, a timeout, a refusal an operator fixes). */
  retriable: boolean;
  failureClass: FailureClass;
  /** The protocol error type (`MESSAGE_TOO_LARGE`, ...) or the KafkaJS error name. */
  code: string;
  /** The innermost message. */
  message: string;
}

/** Refusals an operator fixes (ACLs, credentials, a missing topic): held and retried, never dropped (ADR 5). */
const REFUSED = new Set([
  'TOPIC_AUTHORIZATION_FAILED',
  'GROUP_AUTHORIZATION_FAILED',
  'CLUSTER_AUTHORIZATION_FAILED',
  'TRANSACTIONAL_ID_AUTHORIZATION_FAILED',
  'SASL_AUTHENTICATION_FAILED',
  'UNKNOWN_TOPIC_OR_PARTITION',
  'KafkaJSSASLAuthenticationError',
]);

/** The record itself can never be accepted: dead-lettered. */
const INVALID_RECORD = new Set([
  'MESSAGE_TOO_LARGE',
  'RECORD_LIST_TOO_LARGE',
  'INVALID_RECORD',
  'CORRUPT_MESSAGE',
  'INVALID_TIMESTAMP',
]);

interface KafkaJsErrorLike {
  name?: string;
  message?: string;
  type?: string;
  retriable?: boolean;
  originalError?: unknown;
  cause?: unknown;
}

/** The error a KafkaJS wrapper (`KafkaJSNumberOfRetriesExceeded`, ...) holds, else `err`. */
function innermost(err: unknown): KafkaJsErrorLike {
  let e = (typeof err === 'object' && err !== null ? err : { message: String(err) }) as KafkaJsErrorLike;
  for (let i = 0; i < 5; i++) {
    const inner = e.originalError ?? (e.name === 'KafkaJSNumberOfRetriesExceeded' ? e.cause : undefined);
    if (typeof inner !== 'object' || inner === null) break;
    e = inner as KafkaJsErrorLike;
  }
  return e;
}

/**
 * Classifies any error from kafkajs: protocol errors by their `type` (refusals are retriable and
 * classed `http_4xx`, the engine's "refused until an operator fixes it"; record errors are not
 * retriable), connection and timeout errors as `network`/`timeout`, else by KafkaJS's `retriable`.
 * Programmer errors (`TypeError`, ...) are never retriable.
 */
export function classifyKafkaError(err: unknown): KafkaFailure {
  const e = innermost(err);
  const name = e.name ?? 'Error';
  const code = e.type ?? name;
  const message = e.message ?? String(err);
  if (err instanceof TypeError || err instanceof RangeError || err instanceof SyntaxError) {
    return { retriable: false, failureClass: 'internal', code: name, message };
  }
  if (INVALID_RECORD.has(code)) {
    const tooLarge = code === 'MESSAGE_TOO_LARGE' || code === 'RECORD_LIST_TOO_LARGE';
    return { retriable: false, failureClass: tooLarge ? 'record_too_large' : 'sink', code, message };
  }
  if (REFUSED.has(code)) return { retriable: true, failureClass: 'http_4xx', code, message };
  if (
    name === 'KafkaJSConnectionError' ||
    name === 'KafkaJSBrokerNotFound' ||
    name === 'KafkaJSConnectionClosedError'
  )
    return { retriable: true, failureClass: 'network', code, message };
  if (name === 'KafkaJSRequestTimeoutError' || name === 'KafkaJSTimeout')
    return { retriable: true, failureClass: 'timeout', code, message };
  const retriable = e.retriable ?? (err as KafkaJsErrorLike).retriable ?? false;
  return { retriable, failureClass: retriable ? 'network' : 'sink', code, message };
}
