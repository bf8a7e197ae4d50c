/**
 * Test support: an in-memory {@link PutRecordBatchClient} that records every call, answers with a
 * scripted per-entry outcome, and keeps the accepted records in acceptance order.
 */
import type {
  DeliveryStreamSummary,
  PutRecordBatchClient,
  PutRecordBatchInput,
  PutRecordBatchOutputLike,
} from './client.js';

/** What a scripted responder decides for one entry: accept it, or fail it with an error code. */
export type FirehoseEntryOutcome = 'ok' | { errorCode: string; errorMessage?: string };

export class FakeFirehoseClient implements PutRecordBatchClient {
  readonly endpoint = 'fake://firehose';
  readonly calls: PutRecordBatchInput[] = [];
  /** Accepted record data, in acceptance order. */
  readonly accepted: Uint8Array[] = [];
  summary: DeliveryStreamSummary = { status: 'ACTIVE', type: 'DirectPut' };
  describeError: unknown;
  private id = 0;

  /** @param respond - per call: per-entry outcomes, or throw to fail the whole call. Defaults to accepting all. */
  constructor(
    public respond: (
      input: PutRecordBatchInput,
      call: number,
    ) => FirehoseEntryOutcome[] | Promise<FirehoseEntryOutcome[]> = (i) => i.Records.map(() => 'ok'),
  ) {}

  async putRecordBatch(input: PutRecordBatchInput): Promise<PutRecordBatchOutputLike> {
    const copy = {
      DeliveryStreamName: input.DeliveryStreamName,
      Records: input.Records.map((r) => ({ ...r })),
    };
    this.calls.push(copy);
    const outcomes = await this.respond(copy, this.calls.length - 1);
    const RequestResponses = copy.Records.map((r, i) => {
      const o = outcomes[i] ?? 'ok';
      if (o !== 'ok') return { ErrorCode: o.errorCode, ErrorMessage: o.errorMessage ?? o.errorCode };
      this.accepted.push(r.Data);
      return { RecordId: `rec-${++this.id}` };
    });
    return { FailedPutCount: RequestResponses.filter((r) => 'ErrorCode' in r).length, RequestResponses };
  }

  async describeDeliveryStream(): Promise<DeliveryStreamSummary> {
    if (this.describeError !== undefined) throw this.describeError;
    return this.summary;
  }
}
