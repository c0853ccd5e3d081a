import { afterEach, describe, expect, it, vi } from 'vitest';
import { z } from 'zod';
import { envField, loadEnv } from '../src/env.js';

const schema = z.object({
  PORT: envField.port(8080),
  SERVICE_TOKEN: envField.serviceToken(),
  ENCRYPTION_KEY: envField.encryptionKey(),
  NODE_ENV: envField.nodeEnv(),
});

/** Runs loadEnv, turning its exit into an exception and collecting what it wrote. */
function attempt(source: Record<string, string>) {
  const lines: string[] = [];
  vi.spyOn(process.stderr, 'write').mockImplementation((text) => {
    lines.push(String(text));
    return true;
  });
  vi.spyOn(process, 'exit').mockImplementation((code) => {
    throw new Error(`exit ${code}`);
  });
  try {
    return { env: loadEnv(schema, source), lines };
  } catch (error) {
    return { error: (error as Error).message, lines };
  }
}

afterEach(() => vi.restoreAllMocks());

describe('loadEnv', () => {
  it('fills development defaults so a fresh clone starts with no set-up', () => {
    const { env } = attempt({});
    expect(env?.PORT).toBe(8080);
    expect(env?.SERVICE_TOKEN).toBeTruthy();
  });

  it('stops with one line per bad variable, never echoing its value', () => {
    const { error, lines } = attempt({ PORT: 'eighty', ENCRYPTION_KEY: 'c2hvcnQtc2VjcmV0' });
    expect(error).toBe('exit 1');
    expect(lines).toHaveLength(2);
    expect(lines.join('')).toMatch(/PORT/);
    expect(lines.join('')).toMatch(/ENCRYPTION_KEY: must be 32 bytes/);
    expect(lines.join('')).not.toContain('c2hvcnQtc2VjcmV0');
  });

  it('refuses the development secrets in production', () => {
    const { error, lines } = attempt({ NODE_ENV: 'production' });
    expect(error).toBe('exit 1');
    expect(lines.join('')).toContain('SERVICE_TOKEN: must be set when NODE_ENV=production');
    expect(lines.join('')).toContain('ENCRYPTION_KEY: must be set when NODE_ENV=production');

    const key = Buffer.alloc(32, 1).toString('base64');
    const ok = attempt({
      NODE_ENV: 'production',
      SERVICE_TOKEN: 'x'.repeat(32),
      ENCRYPTION_KEY: key,
    });
    expect(ok.env?.NODE_ENV).toBe('production');
  });
});
