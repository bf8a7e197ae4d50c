/**
 * Helpers to name cdk-nag findings precisely in `appliesTo`, so a suppression covers one resource
 * pattern and nothing else (cdk-nag prints resolved tokens as `<LogicalId.Attribute>`).
 */
import { type CfnElement, Stack, Validations } from 'aws-cdk-lib';
import type { IConstruct } from 'constructs';

/** `<LogicalId>` of the construct's default CloudFormation resource. */
export function logicalRef(construct: IConstruct): string {
  const cfn = construct.node.defaultChild as CfnElement | undefined;
  if (!cfn) throw new Error(`${construct.node.path} has no CloudFormation resource`);
  return Stack.of(construct).getLogicalId(cfn);
}

/** The IAM5 finding for `arn:...:s3:::<bucket>/<keyPattern>`, e.g. `bronze/*`. */
export function bucketObjects(bucket: IConstruct, keyPattern: string): string {
  return `Resource::<${logicalRef(bucket)}.Arn>/${keyPattern}`;
}

/** One cdk-nag suppression: a rule, why, and (for rules with several findings) which findings. */
export interface NagSuppression {
  /** Rule id, e.g. `AwsSolutions-IAM5`. */
  readonly id: string;
  /** Why the finding is acceptable here. Required, at least 20 characters. */
  readonly reason: string;
  /** Findings of the rule, e.g. `Resource::*`; each becomes `<id>[<finding>]`. Omit for single-finding rules. */
  readonly appliesTo?: readonly string[];
}

/**
 * Acknowledges cdk-nag findings on a construct and its children (cdk-nag 3 uses CDK's
 * `Validations.of(construct).acknowledge()`; v2's `NagSuppressions` is gone). A finding of a
 * multi-finding rule must be named exactly: `AwsSolutions-IAM5[Resource::*]`.
 * @throws Error when a reason is missing or too short to explain anything.
 */
export function suppress(constructs: IConstruct | IConstruct[], suppressions: NagSuppression[]): void {
  for (const construct of Array.isArray(constructs) ? constructs : [constructs]) {
    for (const s of suppressions) {
      if (s.reason.trim().length < 20) {
        throw new Error(`nag suppression ${s.id} on ${construct.node.path}: write a reason (20+ characters)`);
      }
      const ids = s.appliesTo ? s.appliesTo.map((f) => `${s.id}[${f}]`) : [s.id];
      Validations.of(construct).acknowledge(...ids.map((id) => ({ id, reason: s.reason })));
    }
  }
}
