/**
 * BudgetsCache (context `budgetsCache=true`): the Redis the `run` tasks share their rate budgets
 * through (`rateLimit.shared`, bottleneck's Redis datastore; ADR 0012). A Valkey replication group,
 * cluster mode disabled, in the private subnets: TLS in transit (`rediss://`), encrypted at rest with
 * the lake key, an AUTH token, one primary and one replica in two AZs with automatic failover. Only
 * the security group {@link BudgetsCache.clients} (given to the run service alone) reaches it.
 *
 * Why not ElastiCache Serverless: it is cluster mode, where a Lua script may only touch keys of one
 * hash slot, and bottleneck's scripts touch several keys (`b_<id>_settings`, `b_<id>_job_weights`,
 * ...) without a hash tag, so every call would fail with CROSSSLOT. See deploy/README.md.
 */
import { Fn, SecretValue } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as elasticache from 'aws-cdk-lib/aws-elasticache';
import type * as kms from 'aws-cdk-lib/aws-kms';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { Construct } from 'constructs';
import { suppress } from './nag.js';

/** The port of the replication group (Valkey's default; cdk-nag AEC5 flags 6379 only for `redis`). */
export const BUDGETS_CACHE_PORT = 6379;
/** Node type: rate budgets are a few small keys per source; t4g.micro has 0.5 GiB. */
export const BUDGETS_CACHE_NODE_TYPE = 'cache.t4g.micro';

export interface BudgetsCacheProps {
  readonly prefix: string;
  readonly vpc: ec2.IVpc;
  /** Encrypts the cache at rest and the two secrets. */
  readonly key: kms.IKey;
}

export class BudgetsCache extends Construct {
  /** The security group of the clients: the only one the cache accepts connections from. */
  readonly clients: ec2.SecurityGroup;
  /** The cache's own security group. */
  readonly securityGroup: ec2.SecurityGroup;
  readonly replicationGroup: elasticache.CfnReplicationGroup;
  /** The AUTH token (generated at deploy). */
  readonly authToken: secretsmanager.Secret;
  /** `rediss://:<token>@<primary endpoint>:<port>`, given to the run tasks as `INGEST_REDIS_URL`. */
  readonly url: secretsmanager.Secret;

  constructor(scope: Construct, id: string, props: BudgetsCacheProps) {
    super(scope, id);
    const { prefix, vpc, key } = props;

    this.securityGroup = new ec2.SecurityGroup(this, 'SecurityGroup', {
      vpc,
      description: 'Rate-budget Valkey: only the run tasks, TLS on 6379',
      allowAllOutbound: false,
    });
    this.clients = new ec2.SecurityGroup(this, 'ClientsSecurityGroup', {
      vpc,
      description: 'run tasks: clients of the rate-budget Valkey',
      allowAllOutbound: false,
    });
    const port = ec2.Port.tcp(BUDGETS_CACHE_PORT);
    this.securityGroup.addIngressRule(this.clients, port, 'run tasks (rate budgets)');
    this.clients.addEgressRule(this.securityGroup, port, 'rate-budget Valkey');

    const subnets = new elasticache.CfnSubnetGroup(this, 'Subnets', {
      cacheSubnetGroupName: `${prefix}-budgets`,
      description: 'Private subnets of the rate-budget Valkey',
      subnetIds: vpc.selectSubnets({ subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS }).subnetIds,
    });

    this.authToken = new secretsmanager.Secret(this, 'AuthToken', {
      secretName: `${prefix}/budgets-cache-auth-token`,
      description: 'AUTH token of the rate-budget Valkey (16-128 characters, no punctuation).',
      encryptionKey: key,
      generateSecretString: { passwordLength: 64, excludePunctuation: true },
    });
    const token = this.authToken.secretValue.unsafeUnwrap();

    this.replicationGroup = new elasticache.CfnReplicationGroup(this, 'ReplicationGroup', {
      replicationGroupId: `${prefix}-budgets`,
      replicationGroupDescription: 'ingest: rate budgets shared by the run tasks (rateLimit.shared)',
      engine: 'valkey',
      engineVersion: '8.0',
      cacheNodeType: BUDGETS_CACHE_NODE_TYPE,
      numCacheClusters: 2,
      automaticFailoverEnabled: true,
      multiAzEnabled: true,
      port: BUDGETS_CACHE_PORT,
      cacheSubnetGroupName: subnets.ref,
      securityGroupIds: [this.securityGroup.securityGroupId],
      transitEncryptionEnabled: true,
      transitEncryptionMode: 'required',
      atRestEncryptionEnabled: true,
      kmsKeyId: key.keyArn,
      authToken: token,
    });

    this.url = new secretsmanager.Secret(this, 'Url', {
      secretName: `${prefix}/INGEST_REDIS_URL`,
      description:
        'rediss:// URL of the rate-budget Valkey with its AUTH token (run service, env INGEST_REDIS_URL).',
      encryptionKey: key,
      secretStringValue: SecretValue.unsafePlainText(
        Fn.join('', [
          'rediss://:',
          token,
          '@',
          this.replicationGroup.attrPrimaryEndPointAddress,
          ':',
          this.replicationGroup.attrPrimaryEndPointPort,
        ]),
      ),
    });

    suppress(
      [this.authToken, this.url],
      [
        {
          id: 'AwsSolutions-SMG4',
          reason:
            'No automatic rotation: a new AUTH token must be set on the replication group (ModifyReplicationGroup, AuthTokenUpdateStrategy ROTATE) and in the URL secret together; redeploy with a new token instead.',
        },
      ],
    );
  }
}
