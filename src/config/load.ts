import { readFile } from 'node:fs/promises';
import { parseDocument } from 'yaml';
import type { z } from 'zod';
import { ConfigError } from '../errors.js';
import { mask } from '../secrets/index.js';
import { interpolateEnv } from './interpolate.js';
import { type Config, ConfigSchema } from './schema.js';

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

/** Formats zod issues as `path: expected ..., found ...` lines. */
export function formatIssues(issues: z.core.$ZodIssue[], raw: unknown): string[] {
  return issues.map((i) => {
    const path = i.path.length
      ? i.path
          .map((p) => (typeof p === 'number' ? `[${p}]` : `.${String(p)}`))
          .join('')
          .replace(/^\./, '')
      : '(root)';
    const found = describeValue(valueAt(raw, i.path));
    return `${path}: ${i.message} (found ${found})`;
  });
}

/**
 * Parses and validates a YAML config text.
 * @throws ConfigError naming each bad field's path, what was expected and what was found.
 */
export function parseConfig(text: string, origin = 'config', env: NodeJS.ProcessEnv = process.env): Config {
  const doc = parseDocument(interpolateEnv(text, env), { prettyErrors: true });
  if (doc.errors.length > 0) {
    throw new ConfigError(`${origin}: invalid YAML\n  ${doc.errors.map((e) => e.message).join('\n  ')}`);
  }
  const raw = doc.toJS() ?? {};
  const result = ConfigSchema.safeParse(raw);
  if (!result.success) {
    throw new ConfigError(
      `${origin}: invalid configuration\n  ${formatIssues(result.error.issues, raw).join('\n  ')}`,
    );
  }
  return result.data;
}

/** Reads, parses and validates a config file. @throws ConfigError */
export async function loadConfig(file: string): Promise<Config> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new ConfigError(`${file}: cannot read config file (${(err as Error).message})`, { cause: err });
  }
  return parseConfig(text, file);
}
