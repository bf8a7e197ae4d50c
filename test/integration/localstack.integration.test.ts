/**
 * The integration suite (`suite/`) on LocalStack, started by testcontainers. Runs only where a Docker
 * engine answers and `LOCALSTACK_AUTH_TOKEN` is set; elsewhere it is skipped, with the reason in the
 * describe title and printed at collection time. `LOCALSTACK_VERSION` picks the image tag (default
 * `latest`, as deploy/docker-compose.yml).
 */
import { localstack } from './backends.js';
import { defineBackendSuite } from './suite/index.js';

defineBackendSuite(localstack, { availability: await localstack.available() });
