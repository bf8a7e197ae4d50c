/**
 * The whole synthesized template as a snapshot, so any change to the infrastructure shows up in
 * review. Content hashes (the image and the Glue script assets, which change with src/) are
 * replaced by a placeholder; the assertions in stack.test.ts check what the assets hold.
 * Update after an intended change: vitest run test/deploy -u
 */
import { afterAll, expect, it } from 'vitest';
import { cleanupSynth, normalizeHashes, synth } from './synth.js';

afterAll(cleanupSynth);

it('matches the snapshot (default context)', () => {
  expect(normalizeHashes(synth().template.toJSON())).toMatchSnapshot();
});

it('matches the snapshot (useFirehose=false, provisioned, 4 shards)', () => {
  const s = synth({ useFirehose: 'false', streamMode: 'provisioned', shardCount: '4' });
  expect(normalizeHashes(s.template.toJSON())).toMatchSnapshot();
});

it('replaces only 64-hex content hashes', () => {
  expect(normalizeHashes({ a: `s3://b/${'ab'.repeat(32)}.zip`, b: 'ingest-dev' })).toEqual({
    a: 's3://b/<asset-hash>.zip',
    b: 'ingest-dev',
  });
});
