import { type Document, isPair, isScalar, isSeq, Scalar, visit } from 'yaml';
import { ConfigError } from '../errors.js';

/** `${VAR}`, `${VAR:-default}`, and `$${...}` (an escaped literal `${...}`). */
const REFERENCE = /\$?\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g;

/**
 * Replaces `${VAR}` and `${VAR:-default}` in one string with environment values (as docker compose
 * does); an unset or empty variable takes its default. `$${` escapes a literal `${`.
 * @param onUnset - called with the name of each variable that is unset and has no default; the
 *   reference is then left as it was.
 */
export function substituteEnv(
  value: string,
  env: NodeJS.ProcessEnv,
  onUnset: (name: string) => void,
): string {
  return value.replace(REFERENCE, (match, name: string, def?: string) => {
    if (match.startsWith('$$')) return match.slice(1);
    const v = env[name];
    if (v !== undefined && v !== '') return v;
    if (def !== undefined) return def;
    onUnset(name);
    return match;
  });
}

/**
 * Interpolates one string (see {@link substituteEnv}).
 * @throws ConfigError naming every variable that is unset and has no default.
 */
export function interpolateEnv(text: string, env: NodeJS.ProcessEnv = process.env): string {
  const missing = new Set<string>();
  const out = substituteEnv(text, env, (name) => missing.add(name));
  if (missing.size > 0) {
    throw new ConfigError(`config refers to unset environment variable(s): ${[...missing].join(', ')}`);
  }
  return out;
}

/** The field path of a node, in the same `a.b[0].c` form as validation errors. */
function fieldPath(ancestors: readonly unknown[], node: unknown): string {
  const chain = [...ancestors, node];
  let out = '';
  for (let i = 0; i + 1 < chain.length; i++) {
    const parent = chain[i];
    const child = chain[i + 1];
    if (isSeq(parent)) out += `[${parent.items.indexOf(child)}]`;
    else if (isPair(parent) && parent.value === child) {
      out += `.${String(isScalar(parent.key) ? parent.key.value : parent.key)}`;
    }
  }
  return out.replace(/^\./, '') || '(root)';
}

/** Resolves a plain (unquoted) scalar's text the way the YAML parser would have: number, boolean, null or string. */
function resolvePlain(doc: Document, text: string): unknown {
  const tag = doc.schema.tags.find((t) => t.default === true && t.test?.test(text));
  if (!tag || !('resolve' in tag) || tag.tag === 'tag:yaml.org,2002:str') return text;
  const value = (tag.resolve as (v: string, onError: (m: string) => void, o: object) => unknown)(
    text,
    () => {},
    doc.options,
  );
  // The boolean tags resolve to a Scalar node (keeping the source text), not to the boolean.
  return isScalar(value) ? value.value : value;
}

/**
 * Interpolates `${VAR}` / `${VAR:-default}` in the string values of a parsed YAML document, in place.
 * It runs on parsed values, never on the YAML text: a reference inside a comment is ignored, and a
 * value containing a newline or `key: value` stays one string (it cannot inject structure). Keys are
 * not interpolated. A plain (unquoted) scalar is typed after substitution the way YAML types plain
 * text (`port: ${PORT:-9464}` is the number 9464, an empty result is null); a quoted or block scalar
 * stays a string. Values reached through aliases are interpolated once, at their anchor.
 * @throws ConfigError naming each variable that is unset and has no default, with its field path.
 */
export function interpolateDocument(doc: Document, env: NodeJS.ProcessEnv, origin = 'config'): void {
  const missing: string[] = [];
  visit(doc, {
    Scalar(key, node, path) {
      if (key === 'key' || typeof node.value !== 'string' || !node.value.includes('${')) return;
      const where = fieldPath(path, node);
      const text = substituteEnv(node.value, env, (name) => missing.push(`${name} (at ${where})`));
      node.value = node.type === Scalar.PLAIN ? resolvePlain(doc, text) : text;
    },
  });
  if (missing.length > 0) {
    throw new ConfigError(
      `${origin}: unset environment variable(s) without a default: ${missing.join(', ')}; set them or write \${NAME:-default}`,
    );
  }
}
