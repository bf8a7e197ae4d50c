import { defineSink } from '../spec.js';
import { KinesisSinkSchema } from './config.js';

/** The Kinesis Data Streams sink (PutRecords), see `./index.ts`. */
export const kinesisSink = defineSink({
  schema: KinesisSinkSchema,
  resources: (cfg) => [
    {
      kind: 'kinesis-stream',
      name: cfg.streamName,
      sink: cfg.name,
      ...(cfg.endpoint ? { endpoint: cfg.endpoint } : {}),
    },
  ],
  create: async (cfg, deps) => (await import('./index.js')).createKinesisSink(cfg, deps),
});
