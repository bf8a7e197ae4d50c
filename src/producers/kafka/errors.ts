/** Errors of the Kafka sink; classification is shared with the consumer (`src/kafka/errors.ts`). */
import { classifyKafkaError } from '../../kafka/errors.js';
import { ProducerError, ThrottledError } from '../errors.js';

/** A produce call, or one record, failed. `retriable` says whether the engine resends it. */
export class KafkaProduceError extends ProducerError {}

/** The sink's topic does not exist on the brokers (a config mistake: the sink fails fast at start). */
export class KafkaTopicNotFoundError extends ProducerError {
  constructor(topic: string, brokers: string[], cause?: unknown) {
    super(
      `Kafka topic "${topic}" does not exist on ${brokers.join(',')}: run "ingest bootstrap --config FILE" (it creates the topic with topicPartitions), create it yourself (kafka-topics.sh --create, the MSK console, your IaC) or fix "topic"`,
      'not_found',
      { retriable: false, cause, code: 'UNKNOWN_TOPIC_OR_PARTITION' },
    );
  }
}

/** A record over `maxRecordBytes`: dead-lettered, never sent. */
export class KafkaRecordTooLargeError extends ProducerError {
  constructor(bytes: number, limit: number) {
    super(`record is ${bytes} bytes (key plus value), over maxRecordBytes ${limit}`, 'record_too_large', {
      retriable: false,
      code: 'MESSAGE_TOO_LARGE',
    });
  }
}

/** Turns anything kafkajs throws into a ProducerError (throttling quotas included). */
export function classifyProduceError(err: unknown): ProducerError {
  if (err instanceof ProducerError) return err;
  const f = classifyKafkaError(err);
  if (f.code === 'THROTTLING_QUOTA_EXCEEDED')
    return new ThrottledError(f.message, { cause: err, code: f.code });
  return new KafkaProduceError(f.message, f.failureClass, {
    retriable: f.retriable,
    cause: err,
    code: f.code,
  });
}
