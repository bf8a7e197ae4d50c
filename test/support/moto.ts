/** Test support: moto's server, shared with `ingest local` (see `src/local/moto.ts`). */
export { MOTO_SERVER, type Moto, startMoto } from '../../src/local/moto.js';
