/**
 * Synthesizes the CDK app in-process (no CLI, no Docker, no network) into a temporary cloud
 * assembly, once per context per test file.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Template } from 'aws-cdk-lib/assertions';
import { buildIngestLakeApp, type IngestLakeApp } from '../../deploy/cdk/build.js';

/** A resource of a synthesized template: untyped CloudFormation JSON, asserted on by the tests. */
export interface TemplateResource {
  Type: string;
  // biome-ignore lint/suspicious/noExplicitAny: CloudFormation properties are free-form JSON
  Properties?: any;
}

export interface Synthesized extends IngestLakeApp {
  template: Template;
  /** The template as JSON. */
  json: Record<string, unknown> & { Resources: Record<string, TemplateResource> };
  outdir: string;
}

const cache = new Map<string, Synthesized>();
const outdirs: string[] = [];

/** Synthesizes once per distinct context; `cleanupSynth()` removes the assemblies. */
export function synth(context: Record<string, string> = {}): Synthesized {
  const cacheKey = JSON.stringify(context);
  const hit = cache.get(cacheKey);
  if (hit) return hit;
  const outdir = mkdtempSync(join(tmpdir(), 'ingest-cdk-'));
  outdirs.push(outdir);
  const built = buildIngestLakeApp({ outdir, context });
  const template = Template.fromStack(built.stack);
  const out: Synthesized = { ...built, template, json: template.toJSON() as Synthesized['json'], outdir };
  cache.set(cacheKey, out);
  return out;
}

export function cleanupSynth(): void {
  for (const dir of outdirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  cache.clear();
}

/** Logical ids of the resources of a type. */
export function resourcesOfType(s: Synthesized, type: string): [string, TemplateResource][] {
  return Object.entries(s.json.Resources).filter(([, r]) => r.Type === type);
}

/** The one logical id whose id starts with `prefix` (CDK appends a hash), of the given type. */
export function logicalId(s: Synthesized, type: string, prefix: string): string {
  const ids = resourcesOfType(s, type)
    .map(([id]) => id)
    .filter((id) => id.startsWith(prefix));
  if (ids.length !== 1) throw new Error(`expected one ${type} ${prefix}*, found ${ids.join(', ') || 'none'}`);
  return ids[0]!;
}

/** Every action of every policy (inline AWS::IAM::Policy or the role's own Policies) attached to a role. */
export function roleActions(s: Synthesized, roleId: string): { actions: string[]; policies: number } {
  const actions = new Set<string>();
  let policies = 0;
  const collect = (doc: { Statement: { Action: string | string[]; Effect: string }[] }) => {
    for (const st of doc.Statement) {
      if (st.Effect !== 'Allow') continue;
      for (const a of [st.Action].flat()) actions.add(a);
    }
  };
  for (const [, r] of resourcesOfType(s, 'AWS::IAM::Policy')) {
    const roles = (r.Properties.Roles ?? []) as { Ref?: string }[];
    if (roles.some((x) => x.Ref === roleId)) {
      policies++;
      collect(r.Properties.PolicyDocument);
    }
  }
  const role = s.json.Resources[roleId];
  for (const p of role?.Properties?.Policies ?? []) {
    policies++;
    collect(p.PolicyDocument);
  }
  if (role?.Properties?.ManagedPolicyArns?.length) throw new Error(`${roleId} has managed policies`);
  return { actions: [...actions].sort(), policies };
}

/** Replaces content hashes (assets, image tags) so a snapshot survives edits of src/ and the jobs. */
export function normalizeHashes<T>(value: T): T {
  return JSON.parse(JSON.stringify(value).replace(/[0-9a-f]{64}/g, '<asset-hash>')) as T;
}
