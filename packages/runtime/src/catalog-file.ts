import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildCatalog, type Catalog } from '@creditgate/contracts';
import { ZodError } from 'zod';

/** `config/models.json` at the repository (or image) root. */
export const DEFAULT_CATALOG_PATH = path.resolve(
  path.dirname(fileURLToPath(import.meta.url)),
  '../../../config/models.json',
);

/** Reads and validates the catalog file; the error names the file and the offending field. */
export function loadCatalog(file: string = DEFAULT_CATALOG_PATH): Catalog {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(file, 'utf8'));
  } catch (cause) {
    throw new Error(`catalog ${file}: cannot read JSON (${(cause as Error).message})`);
  }
  try {
    return buildCatalog(raw);
  } catch (cause) {
    if (cause instanceof ZodError) {
      const issue = cause.issues[0]!;
      throw new Error(`catalog ${file}: ${issue.path.join('.')}: ${issue.message}`);
    }
    throw cause;
  }
}
