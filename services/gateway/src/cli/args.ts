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
  let tokens: Array<{ kind: string; name?: string }>;
  try {
    ({ values, tokens } = parseArgs({
      args: argv,
      options,
      strict: true,
      allowPositionals: false,
      tokens: true,
    }));
  } catch (error) {
    throw new AppError('invalid_request_error', (error as Error).message);
  }
  // parseArgs keeps the last of repeated flags; `--amount 1 --amount 2` is a mistake, not a 2.
  const seen = new Set<string>();
  for (const token of tokens) {
    if (token.kind !== 'option' || !token.name) continue;
    if (seen.has(token.name)) {
      throw new AppError('invalid_request_error', `--${token.name} is given more than once`);
    }
    seen.add(token.name);
  }

  const result = schema.safeParse(values);
  if (!result.success) {
    // The first part of a path is the option; the rest point into its value (an item of a
    // comma-separated list), counted from 1 as a person would.
    const issues = result.error.issues.map((issue) => {
      const [option, ...inside] = issue.path;
      const where = inside.map((part) => (typeof part === 'number' ? `item ${part + 1}` : part));
      return { ...issue, path: [[`--${String(option)}`, ...where].join(' ')] };
    });
    throw new AppError('invalid_request_error', summarizeIssues(issues));
  }
  return result.data;
}
