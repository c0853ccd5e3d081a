import { parseArgs } from 'node:util';
import { AppError } from '@creditgate/contracts';
import { z } from 'zod';
import { summarizeIssues } from '../errors.js';

/**
 * Parses `--flag value` options strictly (unknown flags and positionals are errors), then
 * validates them with the command's zod schema. Every option is a string on the command line.
 */
export function parseOptions<T extends z.ZodObject>(schema: T, argv: string[]): z.infer<T> {
  const options = Object.fromEntries(
    Object.keys(schema.shape).map((name) => [name, { type: 'string' as const }]),
  );
  let values: Record<string, unknown>;
  try {
    ({ values } = parseArgs({ args: argv, options, strict: true, allowPositionals: false }));
  } catch (error) {
    throw new AppError('invalid_request_error', (error as Error).message);
  }

  const result = schema.safeParse(values);
  if (!result.success) {
    const issues = result.error.issues.map((issue) => ({
      ...issue,
      path: issue.path.map((part) => `--${String(part)}`),
    }));
    throw new AppError('invalid_request_error', summarizeIssues(issues));
  }
  return result.data;
}
