import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { putRecordsBody } from './put-body.js';

/** What the body must equal: the request as JSON with each blob as its base64 text. */
const reference = (input: Parameters<typeof putRecordsBody>[0]) =>
  JSON.stringify({
    StreamName: input.StreamName,
    Records: input.Records.map((r) => ({
      Data: Buffer.from(r.Data).toString('base64'),
      PartitionKey: r.PartitionKey,
      ...(r.ExplicitHashKey === undefined ? {} : { ExplicitHashKey: r.ExplicitHashKey }),
    })),
  });

describe('putRecordsBody', () => {
  it('writes the JSON the SDK would send, blobs in base64', () => {
    const input = {
      StreamName: 'orders',
      Records: [
        { Data: Buffer.from('{"a":1}'), PartitionKey: 'src:1' },
        { Data: new Uint8Array([0, 255, 7]), PartitionKey: 'k"\\é😀', ExplicitHashKey: '123' },
      ],
    };
    const body = putRecordsBody(input);
    expect(body.toString('utf8')).toBe(reference(input));
    expect(JSON.parse(body.toString('utf8')).Records[1].PartitionKey).toBe('k"\\é😀');
  });

  it('is the reference JSON for any stream name, keys and bytes', () => {
    fc.assert(
      fc.property(
        fc.string(),
        fc.array(
          fc.record(
            {
              Data: fc.uint8Array({ maxLength: 64 }),
              PartitionKey: fc.string(),
              ExplicitHashKey: fc.string(),
            },
            { requiredKeys: ['Data', 'PartitionKey'] },
          ),
        ),
        (StreamName, Records) => {
          const input = { StreamName, Records };
          expect(putRecordsBody(input).toString('utf8')).toBe(reference(input));
        },
      ),
    );
  });

  it('encodes a blob that is a view into a larger buffer by its own bytes only', () => {
    const backing = Buffer.from('xxhelloxx');
    const view = new Uint8Array(backing.buffer, backing.byteOffset + 2, 5);
    const body = JSON.parse(
      putRecordsBody({ StreamName: 's', Records: [{ Data: view, PartitionKey: 'p' }] }).toString(),
    );
    expect(Buffer.from(body.Records[0].Data, 'base64').toString()).toBe('hello');
  });
});
