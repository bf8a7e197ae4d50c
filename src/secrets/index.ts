/**
 * The process-wide set of configured secret values, and {@link mask}, which hides them in any text.
 *
 * Field-name redaction (pino `redact`) only hides a secret under a known key; a secret can also come
 * back inside text: an upstream that echoes request headers in an error body, a URL quoted in an
 * error message, a dead letter's reason. So every secret the service reads (auth values from the
 * environment, credential-like headers in the config) is registered here, and the logger, the
 * poller's error messages and the dead-letter queue pass their text through {@link mask}.
 *
 * @example
 * ```ts
 * registerSecret(process.env.GITHUB_TOKEN!);
 * mask(`HTTP 500: {"echo":"Bearer ${process.env.GITHUB_TOKEN}"}`); // 'HTTP 500: {"echo":"Bearer ***"}'
 * ```
 *
 * @module
 */

/** What a secret is replaced with. */
export const MASK = '***';

/**
 * Shortest value registered as a secret, in characters. A shorter one would mask that string in
 * every log line (and is no secret worth the name); {@link registerSecret} refuses it.
 */
export const MIN_SECRET_LENGTH = 4;

/** Every form of every secret to replace, longest first (so a secret containing another goes first). */
let forms: string[] = [];
const secrets = new Set<string>();

/** The forms a secret can take in text we emit: as is, JSON-escaped, and percent-encoded (in URLs). */
function formsOf(value: string): string[] {
  const jsonEscaped = JSON.stringify(value).slice(1, -1);
  return [...new Set([value, jsonEscaped, encodeURIComponent(value)])];
}

/**
 * Registers a secret value so that {@link mask} hides it from now on. Idempotent.
 *
 * @param value - the secret; values shorter than {@link MIN_SECRET_LENGTH} characters are ignored.
 * @returns whether the value is (now) registered.
 */
export function registerSecret(value: string | undefined): boolean {
  if (value === undefined || value.length < MIN_SECRET_LENGTH) return false;
  if (secrets.has(value)) return true;
  secrets.add(value);
  forms = [...new Set([...forms, ...formsOf(value)])].sort((a, b) => b.length - a.length);
  return true;
}

/** Header names whose configured values are credentials (RFC 9110 §11.6.2, §11.7.2; cookies; API keys). */
export const CREDENTIAL_HEADER =
  /^(authorization|proxy-authorization|cookie)$|token|secret|api[-_]?key|password/i;

/**
 * Registers the values of credential-like headers (see {@link CREDENTIAL_HEADER}) found in a config's
 * `headers` map: such values belong in `auth`, but when a config puts one inline it is masked all the same.
 *
 * @returns the names of the headers whose values were registered.
 */
export function registerHeaderSecrets(headers: Record<string, string> | undefined): string[] {
  const names: string[] = [];
  for (const [name, value] of Object.entries(headers ?? {})) {
    if (!CREDENTIAL_HEADER.test(name)) continue;
    // `Bearer abc...`: the token alone must be masked too, wherever it appears without the scheme.
    const parts = [value, ...value.split(/\s+/).slice(1)];
    if (parts.map((p) => registerSecret(p)).some(Boolean)) names.push(name);
  }
  return names;
}

/** Length of the longest registered form, in characters (0 when none): the overlap a windowed mask needs. */
export function longestSecretLength(): number {
  return forms[0]?.length ?? 0;
}

/** Replaces every occurrence of every registered secret in `text` with {@link MASK}. */
export function mask(text: string): string {
  let out = text;
  for (const f of forms) if (out.includes(f)) out = out.split(f).join(MASK);
  return out;
}

/**
 * A masked excerpt of at most `maxChars` characters from the start (or the end) of `text`. The mask is
 * applied to a window longer than the excerpt by the longest secret, before cutting, so a secret that
 * straddles the cut is masked whole instead of leaking its first (or last) characters.
 *
 * @param text - the text to quote.
 * @param maxChars - the excerpt length. @default 200
 * @param from - which end to quote. @default 'start'
 * @returns the excerpt, `…` marking the side that was cut.
 */
export function maskedExcerpt(text: string, maxChars = 200, from: 'start' | 'end' = 'start'): string {
  const window = maxChars + longestSecretLength();
  if (from === 'start') {
    const masked = mask(text.slice(0, window));
    return masked.length > maxChars || text.length > window ? `${masked.slice(0, maxChars)}…` : masked;
  }
  const masked = mask(text.slice(-window));
  return masked.length > maxChars || text.length > window ? `…${masked.slice(-maxChars)}` : masked;
}

/** Forgets every registered secret. For tests only. */
export function clearSecretsForTests(): void {
  secrets.clear();
  forms = [];
}
