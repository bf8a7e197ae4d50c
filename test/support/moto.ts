/** moto's server for tests; it lives in src/local/moto.ts (`ingest local --run-tasks` starts it too). */
export { MOTO_SERVER, type Moto, startMoto } from '../../src/local/moto.js';
