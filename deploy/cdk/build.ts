/**
 * Builds the CDK app: parses the context, adds IngestLakeStack and the cdk-nag AwsSolutions checks.
 * Shared by `app.ts` (the entry point) and the tests, which synthesize in-process.
 */
import { App, type AppProps, Validations } from 'aws-cdk-lib';
import cdkNag from 'cdk-nag';
import { type IngestLakeContext, parseContext } from './context.js';
import { findRepoRoot } from './paths.js';
import { IngestLakeStack } from './stack.js';

const { AwsSolutionsChecks } = cdkNag;

/**
 * Feature flags this app relies on (the CLI would read them from cdk.json; set here so an in-process
 * synth behaves the same).
 */
export const FEATURE_FLAGS = {
  // Server access logs delivered under a bucket policy, not the legacy LogDeliveryWrite ACL.
  '@aws-cdk/aws-s3:serverAccessLogsUseBucketPolicy': true,
} as const;

export interface IngestLakeApp {
  app: App;
  /** The AwsSolutions pack registered on the app; `nag.validateScope(app)` runs it directly. */
  nag: InstanceType<typeof AwsSolutionsChecks>;
  stack: IngestLakeStack;
  context: IngestLakeContext;
}

/**
 * Creates the app and its stack. The stack is environment-agnostic (region and account come from the
 * deployment), so synth never needs AWS credentials or context lookups.
 * @param props.context - context values (as `-c key=value` would give), e.g. `{ useFirehose: 'false' }`.
 */
export function buildIngestLakeApp(props: AppProps = {}, repoRoot: string = findRepoRoot()): IngestLakeApp {
  const app = new App({ ...props, context: { ...FEATURE_FLAGS, ...props.context } });
  const context = parseContext((k) => app.node.tryGetContext(k));
  const stack = new IngestLakeStack(app, `IngestLake-${context.envName}`, {
    context,
    repoRoot,
    description: `lake-ingest (${context.envName}): Kinesis, Firehose, S3 lake, Glue, Athena, ECS run/consume`,
    tags: { project: 'lake-ingest', env: context.envName },
  });
  // cdk-nag 3 is a CDK policy-validation plugin (v2's Aspect is gone): synth reports every
  // unacknowledged finding and fails on them.
  const nag = new AwsSolutionsChecks(app, { verbose: true });
  Validations.of(app).addPlugins(nag);
  return { app, stack, context, nag };
}
