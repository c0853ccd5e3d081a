#!/usr/bin/env node
import { isAppError } from '@creditgate/contracts';
import { toAppError } from '../errors.js';
import { COMMANDS, usage } from './commands.js';
import { openCliContext } from './context.js';

/**
 * The operator's CLI: `npm run -s cli -- <command> [--option value ...]`. Prints one JSON
 * document on stdout; errors go to stderr as one line with a non-zero exit. Running it on the
 * host counts as acting as the operator, so no capability is checked here.
 */
async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === 'help' || name === '--help') {
    process.stdout.write(`${usage()}\n`);
    return name ? 0 : 2;
  }
  const command = COMMANDS[name];
  if (!command) {
    process.stderr.write(`error: unknown command "${name}"\n${usage()}\n`);
    return 2;
  }

  const options = command.parse(rest);
  const context = openCliContext();
  try {
    const result = await command.run(context, options);
    process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
    return 0;
  } finally {
    await context.close();
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    const appError = toAppError(error);
    const message = isAppError(error) || appError.status < 500 ? appError.message : String(error);
    process.stderr.write(`error: ${appError.code}: ${message}\n`);
    process.exitCode = appError.status < 500 ? 1 : 3;
  },
);
