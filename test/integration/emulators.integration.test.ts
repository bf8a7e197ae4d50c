/**
 * The integration suite (`suite/`) on the Docker-free backend: kinesis-local for Kinesis, moto for
 * S3, DynamoDB, Glue and Athena, both started by the harness. Always runs: a missing emulator fails
 * the suite with the reason (run `make venv` / `npm ci`).
 */
import { emulators } from './backends.js';
import { defineBackendSuite } from './suite/index.js';

defineBackendSuite(emulators, { availability: await emulators.available(), required: true });
