import { pino, type Logger, type LoggerOptions } from 'pino';

export type { Logger };

/**
 * Paths redacted from every log line. Request bodies are never logged, but the paths below
 * catch secrets that reach a log call by accident (headers, config objects, job payloads).
 */
const REDACT_PATHS = [
  'req.headers.authorization',
  'req.headers.cookie',
  'req.headers["x-service-token"]',
  'headers.authorization',
  'authorization',
  'apiKey',
  '*.apiKey',
  'key',
  '*.key',
  'token',
  '*.token',
  'serviceToken',
  'password',
  '*.password',
  'sealedApiKey',
  '*.sealedApiKey',
  'sealedByoKey',
  '*.sealedByoKey',
  'providerKeys',
  '*.providerKeys',
  'messages',
  '*.messages',
  'prompt',
  'completion',
  'content',
];

/** Values that look like a bearer key or provider key, wherever they appear in a message. */
const SECRET_VALUE_RE = /\b(?:sk|cg|pk|rk)[-_][A-Za-z0-9_-]{8,}\b/g;

function scrub(value: unknown): unknown {
  if (typeof value === 'string') return value.replace(SECRET_VALUE_RE, '[redacted]');
  return value;
}

export interface LoggerConfig {
  service: string;
  level: string;
  pretty: boolean;
  destination?: pino.DestinationStream;
}

/**
 * One pino logger per process; every line names its service. Pretty only in development.
 * Lines go to stdout asynchronously: a line is queued and leaves with whatever else is waiting,
 * instead of a blocking write per line on the request path; pino flushes the queue on exit.
 */
export function createLogger(config: LoggerConfig): Logger {
  const options: LoggerOptions = {
    level: config.level,
    base: { service: config.service },
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    formatters: {
      log(object) {
        const out: Record<string, unknown> = {};
        for (const [k, v] of Object.entries(object)) out[k] = scrub(v);
        return out;
      },
    },
    hooks: {
      logMethod(args, method) {
        method.apply(this, args.map(scrub) as Parameters<typeof method>);
      },
    },
  };
  if (config.destination) return pino(options, config.destination);
  if (config.pretty) {
    return pino({ ...options, transport: { target: 'pino-pretty', options: { colorize: true } } });
  }
  return pino(options, pino.destination({ dest: 1, sync: false }));
}

/** Only a short prefix of a key may be logged or shown, never the key. */
export function keyPrefix(key: string): string {
  return `${key.slice(0, 10)}…`;
}
