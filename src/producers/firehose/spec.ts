import { defineSink } from '../spec.js';
import { FirehoseSinkSchema } from './config.js';

/** The Firehose DirectPut sink (PutRecordBatch), see `./index.ts`. */
export const firehoseSink = defineSink({
  schema: FirehoseSinkSchema,
  resources: (cfg) => [
    {
      kind: 'firehose-delivery-stream',
      name: cfg.deliveryStreamName,
      sink: cfg.name,
      ...(cfg.endpoint ? { endpoint: cfg.endpoint } : {}),
    },
  ],
  create: async (cfg, deps) => (await import('./index.js')).createFirehoseSink(cfg, deps),
});
