import { describe, expect, it } from 'vitest';
import { createLogger } from '../src/logger.js';

function capture() {
  const lines: Record<string, unknown>[] = [];
  const logger = createLogger({
    service: 'test',
    level: 'info',
    pretty: false,
    destination: { write: (line: string) => void lines.push(JSON.parse(line)) },
  });
  return { logger, lines };
}

describe('logger', () => {
  it('censors secrets handed to it by accident, at the top level and one level down', () => {
    const { logger, lines } = capture();
    logger.info(
      {
        caller: { userId: 'usr_1', providerKeys: { openai: 'v1.k1.c2VhbGVk' } },
        route: { sealedApiKey: 'v1.k1.YWJj', sealedByoKey: 'v1.k1.ZGVm' },
        req: { headers: { authorization: 'Bearer cg_live_abcdefghijkl' } },
        serviceToken: 'a-service-token-of-some-length',
      },
      'handled',
    );

    expect(lines).toEqual([
      expect.objectContaining({
        service: 'test',
        msg: 'handled',
        caller: { userId: 'usr_1', providerKeys: '[redacted]' },
        route: { sealedApiKey: '[redacted]', sealedByoKey: '[redacted]' },
        req: { headers: { authorization: '[redacted]' } },
        serviceToken: '[redacted]',
      }),
    ]);
  });

  it('blanks key-shaped values inside messages and string fields', () => {
    const { logger, lines } = capture();
    logger.warn(
      { detail: 'upstream said: bad key sk-proj-abcdefgh1234' },
      'key cg_abcdefghijk refused',
    );

    expect(lines[0]).toMatchObject({
      detail: 'upstream said: bad key [redacted]',
      msg: 'key [redacted] refused',
    });
  });
});
