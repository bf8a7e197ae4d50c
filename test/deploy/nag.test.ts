/**
 * cdk-nag AwsSolutions on the whole app. cdk-nag 3 is a CDK policy-validation plugin
 * (`Validations.of(app).addPlugins(...)`, registered by buildIngestLakeApp) and suppressions are
 * `Validations.of(construct).acknowledge(...)`: its findings are not Annotations any more, so the
 * pack is run directly with `validateScope` and must report nothing, errors or warnings.
 */
import { Validations } from 'aws-cdk-lib';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import cdkNag from 'cdk-nag';
import { afterAll, describe, expect, it } from 'vitest';
import { suppress } from '../../deploy/cdk/nag.js';
import { cleanupSynth, synth } from './synth.js';

const { AwsSolutionsChecks } = cdkNag;

afterAll(cleanupSynth);

/** Every acknowledgement recorded in the tree: construct path, rule id, reason. */
function acknowledgements(
  root: import('constructs').IConstruct,
): { path: string; id: string; reason: string }[] {
  const out: { path: string; id: string; reason: string }[] = [];
  for (const c of root.node.findAll()) {
    for (const m of c.node.metadata) {
      if (m.type !== Validations.ACKNOWLEDGED_RULES_METADATA_KEY) continue;
      for (const [id, ack] of Object.entries(m.data as Record<string, { reason?: string } | string>)) {
        out.push({
          path: c.node.path,
          // CDK stores ids without a namespace as `Annotation::<id>`.
          id: id.replace(/^annotation::/i, ''),
          reason: typeof ack === 'string' ? ack : (ack?.reason ?? ''),
        });
      }
    }
  }
  return out;
}

describe.each([
  ['default context', {}],
  ['useFirehose=false, provisioned', { useFirehose: 'false', streamMode: 'provisioned' }],
  ['sink=firehose (DirectPut)', { sink: 'firehose' }],
  [
    'budgetsCache, sourceSecrets',
    {
      budgetsCache: 'true',
      sourceSecrets: 'ingest/*,github/token,arn:aws:secretsmanager:eu-west-1:123456789012:secret:db-AbCdEf',
    },
  ],
])('cdk-nag AwsSolutions (%s)', (_name, context) => {
  const s = synth(context);

  it('reports no unacknowledged error or warning', () => {
    const report = new AwsSolutionsChecks(undefined, { verbose: true }).validateScope(s.app);
    const findings = report.violations.map(
      (v) => `${v.severity} ${v.ruleName}: ${v.violatingResources.map((r) => r.constructPath).join(', ')}`,
    );
    expect(findings).toEqual([]);
    expect(report.success).toBe(true);
  });

  it('gives every suppression a written reason', () => {
    const all = acknowledgements(s.app);
    // Besides ours, only the acknowledgements CDK's own constructs record for its built-in
    // CloudFormation validation.
    for (const a of all.filter((x) => !x.id.startsWith('AwsSolutions-'))) {
      expect(a.id, a.path).toMatch(/^CloudFormation-Validate::/);
    }
    const acks = all.filter((a) => a.id.startsWith('AwsSolutions-'));
    expect(acks.length).toBeGreaterThan(0);
    for (const a of acks) {
      expect(a.id, a.path).toMatch(/^AwsSolutions-[A-Z]+\d+(\[.+\])?$/);
      expect(a.reason.length, `${a.path} ${a.id}`).toBeGreaterThanOrEqual(40);
    }
    // No blanket IAM5: every wildcard finding is named.
    expect(acks.filter((a) => a.id === 'AwsSolutions-IAM5')).toEqual([]);
  });
});

describe('the nag check can fail', () => {
  it('reports an unencrypted queue added to the stack, and the suppress helper refuses an empty reason', () => {
    const s = synth({ env: 'nagprobe' });
    const queue = new sqs.Queue(s.stack, 'ProbeQueue', { encryption: sqs.QueueEncryption.UNENCRYPTED });
    const report = new AwsSolutionsChecks().validateScope(s.app);
    const rules = report.violations.map((v) => v.ruleName);
    expect(rules).toEqual(
      expect.arrayContaining(['AwsSolutions-SQS2', 'AwsSolutions-SQS3', 'AwsSolutions-SQS4']),
    );
    expect(() => suppress(queue, [{ id: 'AwsSolutions-SQS3', reason: 'because' }])).toThrow(/reason/);
  });
});
