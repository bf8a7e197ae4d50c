/** The `coordination` section of the config: leases that share sources and shards across tasks. */
import { z } from 'zod';

export const CoordinationSchema = z
  .strictObject({
    enabled: z
      .boolean()
      .default(false)
      .describe(
        'Share sources across `run` tasks and stream shards across `consume` tasks through leases in the state store (use `state.type: dynamodb` when tasks run on several machines). Off: every `run` task polls every source and every `consume` task reads every shard, so run one of each.',
      ),
    leaseSecs: z
      .number()
      .positive()
      .default(10)
      .describe(
        "How long a lease lasts without a heartbeat. A dead task's sources and shards are taken over once its leases run out (at once when it ran on the same host and its process is gone).",
      ),
    heartbeatIntervalSecs: z
      .number()
      .positive()
      .default(3)
      .describe(
        'How often a task renews its leases, rebalances and takes free ones. Keep it under a third of `leaseSecs`: an owner that could not renew stops working a third of a lease before its lease runs out.',
      ),
    group: z
      .string()
      .min(1)
      .default('sources')
      .describe('Lease group of the sources; tasks sharing a state table and a group share the sources.'),
  })
  .refine((c) => c.heartbeatIntervalSecs * 3 <= c.leaseSecs, {
    message: 'heartbeatIntervalSecs must be at most a third of leaseSecs',
    path: ['heartbeatIntervalSecs'],
  })
  .describe('Leases that share sources across `run` tasks and shards across `consume` tasks (ADR 0013).');

export type CoordinationConfig = z.infer<typeof CoordinationSchema>;

/** The defaults, for code paths that build a config without the section. */
export const COORDINATION_DEFAULTS: CoordinationConfig = CoordinationSchema.parse({});
