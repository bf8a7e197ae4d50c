import { readFile } from 'node:fs/promises';
import { type Document, parseDocument } from 'yaml';
import type { z } from 'zod';
import { ConfigError } from '../errors.js';
import { mask } from '../secrets/index.js';
import { interpolateDocument } from './interpolate.js';
import { type Config, ConfigSchema } from './schema.js';
import { nearest } from './suggest.js';

/**
 * Alias expansions allowed when a config is turned into values (the `yaml` package's guard against
 * "billion laughs" documents). A real config uses a handful.
 */
export const MAX_ALIAS_COUNT = 100;

function describeValue(v: unknown): string {
  if (v === undefined) return 'nothing';
  const s = mask(JSON.stringify(v)); // before the cut, so a secret (e.g. a URL password) is masked whole
  return s.length > 60 ? `${s.slice(0, 57)}...` : s;
}

function valueAt(doc: unknown, path: PropertyKey[]): unknown {
  let cur = doc;
  for (const p of path) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<PropertyKey, unknown>)[p];
  }
  return cur;
}

function formatPath(path: PropertyKey[]): string {
  return path.length
    ? path
        .map((p) => (typeof p === 'number' ? `[${p}]` : `.${String(p)}`))
        .join('')
        .replace(/^\./, '')
    : '(root)';
}

/** Known keys of the objects that reported unknown keys, by the object's path (see {@link parseConfig}). */
export type KnownKeys = Map<string, readonly string[]>;

function unknownKeyLine(path: PropertyKey[], key: string, known: readonly string[] | undefined): string {
  const guess = known ? nearest(key, known) : undefined;
  const hint = guess ? `; did you mean \`${guess}\`?` : known ? ` (known keys: ${known.join(', ')})` : '';
  return `${formatPath([...path, key])}: unknown key${hint}`;
}

/**
 * Formats zod issues as `path: expected ..., found ...` lines; an unknown key gets one line of its
 * own naming the nearest known key.
 */
export function formatIssues(
  issues: z.core.$ZodIssue[],
  raw: unknown,
  known: KnownKeys = new Map(),
): string[] {
  return issues.flatMap((i) => {
    if (i.code === 'unrecognized_keys') {
      return i.keys.map((k) => unknownKeyLine(i.path, k, known.get(formatPath(i.path))));
    }
    return [`${formatPath(i.path)}: ${i.message} (found ${describeValue(valueAt(raw, i.path))})`];
  });
}

/** The document's values, with aliases expanded under {@link MAX_ALIAS_COUNT}. @throws ConfigError */
function toValues(doc: Document, origin: string): unknown {
  try {
    return doc.toJS({ maxAliasCount: MAX_ALIAS_COUNT }) ?? {};
  } catch (err) {
    throw new ConfigError(
      `${origin}: invalid YAML: ${(err as Error).message} (aliases may expand to at most ${MAX_ALIAS_COUNT} nodes)`,
      { cause: err },
    );
  }
}

/**
 * Parses and validates a YAML config text. `${VAR}` / `${VAR:-default}` are interpolated in the
 * parsed string values (see {@link interpolateDocument}), never in the text.
 * @throws ConfigError naming each bad field's path, what was expected and what was found; an unknown
 *   key is named with the nearest known one.
 */
export function parseConfig(text: string, origin = 'config', env: NodeJS.ProcessEnv = process.env): Config {
  const doc = parseDocument(text, { prettyErrors: true });
  if (doc.errors.length > 0) {
    // One line per error ("... at line L, column C"), without the code frame prettyErrors appends.
    const lines = doc.errors.map((e) => e.message.split('\n')[0]!.replace(/:$/, ''));
    throw new ConfigError(`${origin}: invalid YAML: ${lines.join('; ')}`);
  }
  interpolateDocument(doc, env, origin);
  const raw = toValues(doc, origin);
  const known: KnownKeys = new Map();
  const result = ConfigSchema.safeParse(raw, {
    // zod reports unknown keys without the object's known ones; collect them for the suggestion.
    error: (iss) => {
      const shape = iss.code === 'unrecognized_keys' ? iss.inst?._zod.def : undefined;
      if (shape && 'shape' in shape)
        known.set(formatPath(iss.path ?? []), Object.keys(shape.shape as object));
      return undefined;
    },
  });
  if (!result.success) {
    throw new ConfigError(
      `${origin}: invalid configuration\n  ${formatIssues(result.error.issues, raw, known).join('\n  ')}`,
    );
  }
  return result.data;
}

const READ_ERRORS: Record<string, string> = {
  ENOENT: 'no such file',
  EACCES: 'permission denied',
  EPERM: 'permission denied',
  EISDIR: 'it is a directory',
  ENOTDIR: 'a part of the path is not a directory',
};

/**
 * Reads, parses and validates a config file.
 * @param env - environment for `${VAR}` interpolation. @default process.env
 * @throws ConfigError, with a one-line message when the file cannot be read.
 */
export async function loadConfig(file: string, env: NodeJS.ProcessEnv = process.env): Promise<Config> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? '';
    const reason = READ_ERRORS[code] ?? (err as Error).message;
    throw new ConfigError(`${file}: cannot read config file: ${reason}`, { cause: err });
  }
  return parseConfig(text, file, env);
}
