/**
 * Where `ingest bootstrap` may send its calls, and the rule that keeps it away from real AWS.
 *
 * Bootstrap creates streams, buckets, tables, Glue jobs and crawlers for **local emulators**
 * (LocalStack, moto, kinesis-local); in AWS the CDK stack owns those resources. So it never lets the
 * AWS SDK fall back to a regional endpoint: every service it needs must have an explicit endpoint,
 * taken from (first match wins)
 * 1. `--endpoint URL` (the `endpoint` option), for every service;
 * 2. for a Kinesis stream or Firehose delivery stream only: the `endpoint` of the sink that writes it;
 * 3. `AWS_ENDPOINT_URL_<SERVICE>` (`AWS_ENDPOINT_URL_KINESIS`, `_FIREHOSE`, `_S3`, `_DYNAMODB`, `_GLUE`, `_ATHENA`);
 * 4. `AWS_ENDPOINT_URL`.
 *
 * The environment variables count only when `AWS_IGNORE_CONFIGURED_ENDPOINT_URLS` is not `true`,
 * because the SDK (and so the `run`/`consume` roles) ignores them then and would talk to AWS.
 *
 * An endpoint is accepted when it is an `http:`/`https:` URL whose host is not an AWS service domain:
 * `amazonaws.com`, `amazonaws.com.cn`, `api.aws` (dual-stack), `amazonaws.eu` (European Sovereign
 * Cloud), `c2s.ic.gov` and `sc2s.sgov.gov` (ISO regions), or any subdomain of them (which covers VPC
 * endpoints such as `vpce-….kinesis.us-east-1.vpce.amazonaws.com`). Accepted hosts are reported by
 * kind: loopback (`localhost`, `*.localhost`, `127.0.0.0/8`, `::1`, LocalStack's
 * `localhost.localstack.cloud`), private addresses (RFC 1918, link-local, CGNAT, IPv6 ULA), local
 * names (no dot, as compose service names such as `localstack`; `*.local`, `*.internal`, `*.lan`,
 * `*.localdomain`, `*.home.arpa`, `*.test`) and any other host (`other`). The check is by name: it
 * cannot tell that a bare public IP address belongs to AWS.
 */
import { isIPv4, isIPv6 } from 'node:net';
import { ConfigError } from '../errors.js';

/** The services bootstrap may call. */
export type BootstrapService = 'kinesis' | 'firehose' | 's3' | 'dynamodb' | 'glue' | 'athena';

/** How an accepted endpoint's host was classified (informational; all of them are allowed). */
export type EndpointKind = 'loopback' | 'private' | 'local-name' | 'other';

/** An endpoint bootstrap will use, with where it came from. */
export interface ResolvedEndpoint {
  /** The URL as given, e.g. `http://127.0.0.1:4566`. */
  url: string;
  kind: EndpointKind;
  /** `--endpoint`, `sink <name>.endpoint`, or the environment variable it came from. */
  from: string;
}

/** AWS service domains: an endpoint on one of them, or below it, is real AWS. */
export const AWS_DOMAINS: readonly string[] = [
  'amazonaws.com',
  'amazonaws.com.cn',
  'api.aws',
  'amazonaws.eu',
  'c2s.ic.gov',
  'sc2s.sgov.gov',
];

/** Suffixes of names that only resolve inside a machine, a LAN or a compose/Kubernetes network. */
const LOCAL_SUFFIXES = ['.local', '.internal', '.lan', '.localdomain', '.home.arpa', '.test'];

/** The per-service endpoint variable of the AWS SDKs ("Service-specific endpoints", AWS SDKs reference). */
export function serviceEndpointVariable(service: BootstrapService): string {
  return `AWS_ENDPOINT_URL_${service.toUpperCase()}`;
}

function ipv4Octets(host: string): number[] | undefined {
  return isIPv4(host) ? host.split('.').map(Number) : undefined;
}

/**
 * Classifies an endpoint host. Returns `aws` for an AWS service domain (see the module comment).
 * @param hostname - a URL's `hostname` (IPv6 in brackets or not).
 */
export function classifyHost(hostname: string): EndpointKind | 'aws' {
  const host = hostname
    .toLowerCase()
    .replace(/^\[(.*)\]$/, '$1')
    .replace(/\.$/, '');
  if (AWS_DOMAINS.some((d) => host === d || host.endsWith(`.${d}`))) return 'aws';
  if (
    host === 'localhost' ||
    host.endsWith('.localhost') ||
    host === 'localhost.localstack.cloud' ||
    host.endsWith('.localhost.localstack.cloud') ||
    host === '0.0.0.0' ||
    host === '::' ||
    host === '::1'
  ) {
    return 'loopback';
  }
  const v4 = ipv4Octets(host);
  if (v4) {
    const [a = 0, b = 0] = v4;
    if (a === 127) return 'loopback';
    if (
      a === 10 ||
      (a === 172 && b >= 16 && b <= 31) ||
      (a === 192 && b === 168) ||
      (a === 169 && b === 254) ||
      (a === 100 && b >= 64 && b <= 127)
    ) {
      return 'private';
    }
    return 'other';
  }
  if (isIPv6(host)) {
    const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(host)?.[1];
    if (mapped) return classifyHost(mapped);
    if (/^f[cd][0-9a-f]{2}:/.test(host) || /^fe[89ab][0-9a-f]:/.test(host)) return 'private';
    return 'other';
  }
  if (!host.includes('.') || LOCAL_SUFFIXES.some((s) => host.endsWith(s))) return 'local-name';
  return 'other';
}

/**
 * Checks one endpoint against the rule.
 * @returns the accepted endpoint, or the reason it is refused.
 */
export function checkEndpoint(url: string, from: string): ResolvedEndpoint | { refused: string } {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return { refused: `${from} is not a URL: "${url}"` };
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
    return { refused: `${from} must be an http: or https: URL, got "${url}"` };
  }
  const kind = classifyHost(parsed.hostname);
  if (kind === 'aws') {
    return {
      refused: `${from} is ${url}, a real AWS endpoint (${parsed.hostname}); bootstrap only creates resources in local emulators (in AWS, deploy the CDK stack)`,
    };
  }
  return { url, kind, from };
}

/** What {@link resolveEndpoints} needs. */
export interface EndpointRequest {
  /** Services to resolve. */
  services: readonly BootstrapService[];
  /** `--endpoint`: used for every service when set. */
  endpoint?: string;
  /** Environment to read `AWS_ENDPOINT_URL*` from. @default process.env */
  env?: NodeJS.ProcessEnv;
}

/**
 * Resolves the endpoint of every requested service (see the module comment for the order) and
 * applies the rule to each.
 * @throws ConfigError naming every service without an explicit endpoint (and why that is refused)
 *   and every endpoint that is not a URL or is on an AWS domain.
 */
export function resolveEndpoints(request: EndpointRequest): Map<BootstrapService, ResolvedEndpoint> {
  const env = request.env ?? process.env;
  const ignoreEnv = (env.AWS_IGNORE_CONFIGURED_ENDPOINT_URLS ?? '').toLowerCase() === 'true';
  const out = new Map<BootstrapService, ResolvedEndpoint>();
  const problems: string[] = [];
  for (const service of request.services) {
    const found = endpointFor(service, request.endpoint, env, ignoreEnv);
    if (!found) {
      problems.push(
        `${service}: no endpoint. Set --endpoint, ${serviceEndpointVariable(service)} or AWS_ENDPOINT_URL${
          ignoreEnv ? ' (and unset AWS_IGNORE_CONFIGURED_ENDPOINT_URLS, which makes the SDK ignore them)' : ''
        }; without one the AWS SDK would use the real AWS regional endpoint`,
      );
      continue;
    }
    const checked = checkEndpoint(found.url, found.from);
    if ('refused' in checked) problems.push(`${service}: ${checked.refused}`);
    else out.set(service, checked);
  }
  if (problems.length > 0) throw refusal(problems);
  return out;
}

/** The refusal error: one line per problem under a header that says why. */
export function refusal(problems: string[]): ConfigError {
  return new ConfigError(
    `bootstrap refuses to run: it only creates resources in local emulators (LocalStack, moto, kinesis-local) and needs an explicit, non-AWS endpoint for every service it uses\n  ${problems.join('\n  ')}`,
  );
}

function endpointFor(
  service: BootstrapService,
  flag: string | undefined,
  env: NodeJS.ProcessEnv,
  ignoreEnv: boolean,
): { url: string; from: string } | undefined {
  if (flag) return { url: flag, from: '--endpoint' };
  if (ignoreEnv) return undefined;
  const specific = serviceEndpointVariable(service);
  if (env[specific]) return { url: env[specific], from: specific };
  if (env.AWS_ENDPOINT_URL) return { url: env.AWS_ENDPOINT_URL, from: 'AWS_ENDPOINT_URL' };
  return undefined;
}
