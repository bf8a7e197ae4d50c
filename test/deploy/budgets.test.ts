/**
 * The optional pieces for shared rate budgets and source secrets (contexts `budgetsCache` and
 * `sourceSecrets`): the Valkey replication group, its security groups, the run task's
 * INGEST_REDIS_URL, and the run role's GetSecretValue; none of them in the default synth.
 */
import { Match } from 'aws-cdk-lib/assertions';
import { afterAll, describe, expect, it } from 'vitest';
import { BUDGETS_CACHE_PORT } from '../../deploy/cdk/cache.js';
import { cleanupSynth, logicalId, resourcesOfType, roleActions, type Synthesized, synth } from './synth.js';

afterAll(cleanupSynth);

const DB_ARN = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:db-AbCdEf';

/** The statements of the run task role's inline policy. */
function runStatements(s: Synthesized): { Sid?: string; Action: string | string[]; Resource: unknown }[] {
  const role = logicalId(s, 'AWS::IAM::Role', 'ComputeRunTaskRole');
  const policies = resourcesOfType(s, 'AWS::IAM::Policy').filter(([, p]) =>
    (p.Properties.Roles as { Ref?: string }[]).some((r) => r.Ref === role),
  );
  expect(policies).toHaveLength(1);
  return policies[0]![1].Properties.PolicyDocument.Statement;
}

/** The run container definition. */
function runContainer(s: Synthesized) {
  const [, td] = resourcesOfType(s, 'AWS::ECS::TaskDefinition').find(
    ([, r]) => r.Properties.Family === 'ingest-dev-run',
  )!;
  return td.Properties.ContainerDefinitions[0];
}

describe('default context: no cache, no source secrets', () => {
  const s = synth();

  it('has no ElastiCache, no INGEST_REDIS_URL and no secretsmanager action for run', () => {
    expect(resourcesOfType(s, 'AWS::ElastiCache::ReplicationGroup')).toEqual([]);
    expect(resourcesOfType(s, 'AWS::ElastiCache::SubnetGroup')).toEqual([]);
    const c = runContainer(s);
    expect(c.Secrets.map((x: { Name: string }) => x.Name)).toEqual(['GITHUB_TOKEN']);
    expect(JSON.stringify(c.Environment)).not.toContain('REDIS');
    expect(runStatements(s).map((st) => st.Sid)).not.toContain('SourceSecrets');
  });
});

describe('budgetsCache=true, sourceSecrets', () => {
  const s = synth({
    budgetsCache: 'true',
    sourceSecrets: `ingest/*,github/token,${DB_ARN}`,
  });
  const rg = () => logicalId(s, 'AWS::ElastiCache::ReplicationGroup', 'ComputeBudgetsCache');
  const cacheSg = () => logicalId(s, 'AWS::EC2::SecurityGroup', 'ComputeBudgetsCacheSecurityGroup');
  const clientsSg = () => logicalId(s, 'AWS::EC2::SecurityGroup', 'ComputeBudgetsCacheClientsSecurityGroup');

  it('creates a Multi-AZ Valkey replication group in the private subnets, TLS required, encrypted, with AUTH', () => {
    s.template.resourceCountIs('AWS::ElastiCache::ReplicationGroup', 1);
    s.template.hasResourceProperties('AWS::ElastiCache::ReplicationGroup', {
      ReplicationGroupId: 'ingest-dev-budgets',
      Engine: 'valkey',
      NumCacheClusters: 2,
      AutomaticFailoverEnabled: true,
      MultiAZEnabled: true,
      Port: BUDGETS_CACHE_PORT,
      TransitEncryptionEnabled: true,
      TransitEncryptionMode: 'required',
      AtRestEncryptionEnabled: true,
      KmsKeyId: { 'Fn::GetAtt': [logicalId(s, 'AWS::KMS::Key', 'StorageKey'), 'Arn'] },
      AuthToken: Match.objectLike({ 'Fn::Join': Match.anyValue() }),
      SecurityGroupIds: [{ 'Fn::GetAtt': [cacheSg(), 'GroupId'] }],
      CacheSubnetGroupName: { Ref: logicalId(s, 'AWS::ElastiCache::SubnetGroup', 'ComputeBudgetsCache') },
    });
    const [, subnets] = resourcesOfType(s, 'AWS::ElastiCache::SubnetGroup')[0]!;
    const privateSubnets = resourcesOfType(s, 'AWS::EC2::Subnet')
      .filter(([id]) => id.includes('private'))
      .map(([id]) => ({ Ref: id }));
    expect(privateSubnets).toHaveLength(2);
    expect(subnets.Properties.SubnetIds).toEqual(privateSubnets);
  });

  it('lets only the run tasks reach it: one ingress rule, from the clients group, on 6379; run alone has that group', () => {
    const ingress = resourcesOfType(s, 'AWS::EC2::SecurityGroupIngress').filter(
      ([, r]) =>
        JSON.stringify(r.Properties.GroupId) === JSON.stringify({ 'Fn::GetAtt': [cacheSg(), 'GroupId'] }),
    );
    expect(ingress.map(([, r]) => r.Properties)).toEqual([
      {
        GroupId: { 'Fn::GetAtt': [cacheSg(), 'GroupId'] },
        SourceSecurityGroupId: { 'Fn::GetAtt': [clientsSg(), 'GroupId'] },
        IpProtocol: 'tcp',
        FromPort: 6379,
        ToPort: 6379,
        Description: 'run tasks (rate budgets)',
      },
    ]);
    expect(s.json.Resources[cacheSg()]!.Properties.SecurityGroupIngress).toBeUndefined();
    const services = resourcesOfType(s, 'AWS::ECS::Service');
    const groupsOf = (name: string) =>
      JSON.stringify(
        services.find(([, r]) => r.Properties.ServiceName === name)![1].Properties.NetworkConfiguration,
      );
    expect(groupsOf('ingest-dev-run')).toContain(clientsSg());
    expect(groupsOf('ingest-dev-consume')).not.toContain(clientsSg());
  });

  it('gives the run task INGEST_REDIS_URL (rediss://:<token>@primary:port) as an ECS secret, not in its environment', () => {
    const c = runContainer(s);
    const url = logicalId(s, 'AWS::SecretsManager::Secret', 'ComputeBudgetsCacheUrl');
    expect(c.Secrets).toContainEqual({ Name: 'INGEST_REDIS_URL', ValueFrom: { Ref: url } });
    expect(JSON.stringify(c.Environment)).not.toContain('REDIS');
    const token = logicalId(s, 'AWS::SecretsManager::Secret', 'ComputeBudgetsCacheAuthToken');
    expect(s.json.Resources[url]!.Properties.SecretString).toEqual({
      'Fn::Join': [
        '',
        [
          'rediss://:{{resolve:secretsmanager:',
          { Ref: token },
          ':SecretString:::}}@',
          { 'Fn::GetAtt': [rg(), 'PrimaryEndPoint.Address'] },
          ':',
          { 'Fn::GetAtt': [rg(), 'PrimaryEndPoint.Port'] },
        ],
      ],
    });
    // The group's AUTH token is the same generated secret.
    expect(s.json.Resources[rg()]!.Properties.AuthToken).toEqual({
      'Fn::Join': ['', ['{{resolve:secretsmanager:', { Ref: token }, ':SecretString:::}}']],
    });
    // consume gets neither.
    const [, consume] = resourcesOfType(s, 'AWS::ECS::TaskDefinition').find(
      ([, r]) => r.Properties.Family === 'ingest-dev-consume',
    )!;
    expect(JSON.stringify(consume.Properties.ContainerDefinitions)).not.toContain('REDIS');
  });

  it('outputs the endpoint and the URL secret (absent by default)', () => {
    const outputs = s.json.Outputs as Record<string, { Value: unknown }>;
    expect(outputs.BudgetsCacheEndpoint!.Value).toEqual({ 'Fn::GetAtt': [rg(), 'PrimaryEndPoint.Address'] });
    expect(outputs.BudgetsCacheUrlSecretArn!.Value).toEqual({
      Ref: logicalId(s, 'AWS::SecretsManager::Secret', 'ComputeBudgetsCacheUrl'),
    });
    expect(Object.keys(synth().json.Outputs as object).filter((k) => k.startsWith('BudgetsCache'))).toEqual(
      [],
    );
  });

  it('grants run secretsmanager:GetSecretValue on exactly the sourceSecrets (ARN as given, name-??????, prefix*)', () => {
    const st = runStatements(s).find((x) => x.Sid === 'SourceSecrets')!;
    expect(st.Action).toBe('secretsmanager:GetSecretValue');
    const secretArn = (rest: string) => ({
      'Fn::Join': [
        '',
        [
          'arn:',
          { Ref: 'AWS::Partition' },
          ':secretsmanager:',
          { Ref: 'AWS::Region' },
          ':',
          { Ref: 'AWS::AccountId' },
          `:secret:${rest}`,
        ],
      ],
    });
    expect(st.Resource).toEqual([secretArn('ingest/*'), secretArn('github/token-??????'), DB_ARN]);
    const role = logicalId(s, 'AWS::IAM::Role', 'ComputeRunTaskRole');
    expect(roleActions(s, role).actions).toContain('secretsmanager:GetSecretValue');
    // consume gains nothing.
    const consume = logicalId(s, 'AWS::IAM::Role', 'ComputeConsumeTaskRole');
    expect(roleActions(s, consume).actions).not.toContain('secretsmanager:GetSecretValue');
  });
});

describe('with coordination (source leases) and runMaxTasks', () => {
  it('combines: run scales to runMaxTasks, has INGEST_COORDINATION, INGEST_REDIS_URL and the clients group', () => {
    const s = synth({ coordination: 'true', runMaxTasks: '10', budgetsCache: 'true' });
    s.template.hasResourceProperties('AWS::ApplicationAutoScaling::ScalableTarget', {
      MinCapacity: 1,
      MaxCapacity: 10,
    });
    const c = runContainer(s);
    expect(c.Environment).toContainEqual({ Name: 'INGEST_COORDINATION', Value: 'true' });
    expect(c.Secrets.map((x: { Name: string }) => x.Name).sort()).toEqual([
      'GITHUB_TOKEN',
      'INGEST_REDIS_URL',
    ]);
    const [, run] = resourcesOfType(s, 'AWS::ECS::Service').find(
      ([, r]) => r.Properties.ServiceName === 'ingest-dev-run',
    )!;
    expect(run.Properties.NetworkConfiguration.AwsvpcConfiguration.SecurityGroups).toHaveLength(2);
    expect(JSON.stringify(run.Properties.NetworkConfiguration)).toContain(
      logicalId(s, 'AWS::EC2::SecurityGroup', 'ComputeBudgetsCacheClientsSecurityGroup'),
    );
  });
});
