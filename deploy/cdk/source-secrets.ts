/**
 * The run task role's read of the Secrets Manager secrets that sources reference
 * (`auth: { secretId, jsonKey }`, read at run time by src/secrets/resolve.ts): context
 * `sourceSecrets`, a list of secret ARNs, names or name prefixes ending in `*`.
 */
import { Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import type { Construct } from 'constructs';

/**
 * The secret ARN pattern of one `sourceSecrets` entry: an ARN as given; a name as
 * `secret:<name>-??????` (Secrets Manager appends 6 random characters to the name); a prefix as
 * `secret:<prefix>*`.
 */
export function sourceSecretArn(scope: Construct, entry: string): string {
  if (entry.startsWith('arn:')) return entry;
  const { partition, region, account } = Stack.of(scope);
  const base = `arn:${partition}:secretsmanager:${region}:${account}:secret:`;
  return entry.endsWith('*') ? `${base}${entry}` : `${base}${entry}-??????`;
}

/** `secretsmanager:GetSecretValue` on exactly the entries, or none when the list is empty. */
export function sourceSecretsStatements(scope: Construct, entries: readonly string[]): iam.PolicyStatement[] {
  if (entries.length === 0) return [];
  return [
    new iam.PolicyStatement({
      sid: 'SourceSecrets',
      actions: ['secretsmanager:GetSecretValue'],
      resources: entries.map((e) => sourceSecretArn(scope, e)),
    }),
  ];
}

/** The cdk-nag IAM5 findings of the wildcard entries (prefixes and name suffixes), as cdk-nag prints them. */
export function sourceSecretsFindings(entries: readonly string[]): string[] {
  const base = 'arn:<AWS::Partition>:secretsmanager:<AWS::Region>:<AWS::AccountId>:secret:';
  return entries.filter((e) => !e.startsWith('arn:') && e.endsWith('*')).map((e) => `Resource::${base}${e}`);
}
