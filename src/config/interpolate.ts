import { ConfigError } from '../errors.js';

/**
 * Replaces `${VAR}` and `${VAR:-default}` in a config text with environment values (as Vector and
 * docker compose do), so one file serves several environments. `$${` escapes a literal `${`.
 * Secrets should not be interpolated: name their variables in `tokenEnv`/`valueEnv` fields instead, so
 * they are read at request time and never appear in the parsed config.
 * @throws ConfigError naming every variable that is unset and has no default.
 */
export function interpolateEnv(text: string, env: NodeJS.ProcessEnv = process.env): string {
  const missing: string[] = [];
  const out = text.replace(
    /\$?\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g,
    (match, name: string, def?: string) => {
      if (match.startsWith('$$')) return match.slice(1);
      const value = env[name];
      if (value !== undefined && value !== '') return value;
      if (def !== undefined) return def;
      missing.push(name);
      return match;
    },
  );
  if (missing.length > 0) {
    throw new ConfigError(
      `config refers to unset environment variable(s): ${[...new Set(missing)].join(', ')}`,
    );
  }
  return out;
}
