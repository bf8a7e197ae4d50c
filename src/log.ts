import { type DestinationStream, type Logger, pino } from 'pino';
import { mask } from './secrets/index.js';

export type { Logger };

/** Header and field names always redacted from logs, wherever they appear (two levels deep). */
export const ALWAYS_REDACTED = ['authorization', 'Authorization', 'token', 'password', 'secret', 'apiKey'];

/**
 * Builds the service's JSON logger (pino): one line per event that matters, never one per record at
 * info level. `Authorization`, tokens and the configured secret fields are redacted by name, and
 * every registered secret value (`src/secrets`) is masked as `***` in the final line, whatever field
 * or message it ended up in.
 *
 * @param options.level - pino level. @default process.env.LOG_LEVEL ?? 'info'
 * @param options.redact - extra field names to redact (from `logging.redactFields` in config).
 * @param options.destination - a file descriptor, or a stream (tests capture lines with one). @default 2
 */
export function createLogger(
  options: { level?: string; redact?: string[]; destination?: number | DestinationStream } = {},
): Logger {
  const names = [...new Set([...ALWAYS_REDACTED, ...(options.redact ?? [])])];
  const paths = names.flatMap((n) => [n, `*.${n}`, `*.*.${n}`, `headers.${n.toLowerCase()}`]);
  return pino(
    {
      level: options.level ?? process.env.LOG_LEVEL ?? 'info',
      base: { service: 'ingest' },
      timestamp: pino.stdTimeFunctions.isoTime,
      redact: { paths: [...new Set(paths)], censor: '[REDACTED]' },
      formatters: { level: (label) => ({ level: label }) },
      hooks: { streamWrite: mask },
    },
    typeof options.destination === 'object'
      ? options.destination
      : pino.destination({ dest: options.destination ?? 2, sync: true }),
  );
}

/** A logger that writes nothing, for unit tests. */
export const silentLogger: Logger = pino({ level: 'silent' });
