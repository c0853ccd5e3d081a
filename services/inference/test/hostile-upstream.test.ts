import { costOf, formatAmount, MAX_TOKENS, parseAmount, ZERO_USAGE } from '@creditgate/contracts';
import { loadCatalog } from '@creditgate/runtime';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fixture } from './support/fixture-server.js';
import { startHarness, terminalOf, type Harness } from './support/harness.js';
import { WITHHELD_MESSAGE } from '../src/upstream/errors.js';

/** Upstreams that lie about usage or echo the key they were sent. */
let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(async () => {
  await h?.close();
});

/** The openai transcript with its final usage replaced. */
function withUsage(usage: Record<string, unknown>): string {
  return fixture('openai.sse').replace(/"usage":\{"prompt_tokens":1230.*?\}\}/, () => {
    return `"usage":${JSON.stringify(usage)}`;
  });
}

describe('absurd usage figures', () => {
  it('settles the bound, once, when an upstream reports 10^15 tokens', async () => {
    const userId = 'usr_absurd_usage';
    await h.mint(userId, '1');
    h.fixtures.scenario('openai', {
      kind: 'sse',
      body: withUsage({
        prompt_tokens: 1e15,
        completion_tokens: 1e15,
        completion_tokens_details: { reasoning_tokens: 1e300 },
      }),
    });
    const job = await h.submit({
      route: h.platformRoute('openai', 'gpt-4o-mini'),
      modelId: 'gpt-4o-mini',
      userId,
    });

    const end = terminalOf(await h.events(job.requestId));
    const bounded = { ...ZERO_USAGE, input: MAX_TOKENS, reasoning: MAX_TOKENS };
    const cost = costOf(loadCatalog().byId.get('gpt-4o-mini')!.prices, bounded);
    expect(end).toMatchObject({ type: 'end', usage: bounded, cost: formatAmount(cost) });

    // The bound costs far more than the user's 1 credit: the balance pays, the rest is written off.
    expect(cost).toBeGreaterThan(parseAmount('1'));
    const record = await h.billing.request.query({ requestId: job.requestId, userId });
    expect(record).toMatchObject({ status: 'settled', usage: bounded, cost: '1' });
    expect((await h.billing.balance.query({ userId })).totals.credit).toBe('0');
    const { entries } = await h.billing.history.query({ userId });
    expect(entries.filter((entry) => entry.kind === 'burn')).toHaveLength(1);
    // A second settle of the same request (a redelivered job) replays, never burns again.
    await h.billing.settle.mutate({ requestId: job.requestId, usage: bounded, status: 'complete' });
    const after = await h.billing.history.query({ userId });
    expect(after.entries.filter((entry) => entry.kind === 'burn')).toHaveLength(1);
    const logs = h.logLines.join('\n');
    expect(logs).toMatch(/reported usage beyond the bound/);
    // A write-off is expected, not an error.
    expect(logs).toMatch(/"level":30[^\n]*charged less than the client was shown/);
    expect(logs).not.toMatch(/burned more than the client was shown/);
  });
});

describe('an upstream echoing the key it was sent', () => {
  const key = 'sk-endpoint-Hq7Vt2Lm9Xc4Rb8Np3Wz';
  const forms: Record<string, string> = {
    fragment: key.slice(12, 22),
    spaced: key.split('').join(' '),
    base64: Buffer.from(key).toString('base64'),
    base64Fragment: Buffer.from(key.slice(7, 20)).toString('base64url'),
    hex: Buffer.from(key.slice(10)).toString('hex'),
    urlEncoded: [...key].map((c) => `%${c.charCodeAt(0).toString(16)}`).join(''),
  };

  it.each(Object.entries(forms))('never shows or logs the key echoed as %s', async (form, echo) => {
    const base = h.fixtures.scenario(`echo-${form}`, {
      kind: 'json',
      status: 401,
      body: { error: { message: `Invalid credentials: ${echo}` } },
    });
    const job = await h.submit({
      route: h.customRoute(`${base}/v1`, key),
      modelId: `mdl_echo_${form}`,
    });

    const terminal = terminalOf(await h.events(job.requestId));
    expect(terminal).toMatchObject({ type: 'error', code: 'upstream_error' });
    expect((terminal as { message: string }).message).toContain(WITHHELD_MESSAGE);
    expect(h.fixtures.requests(`echo-${form}`)[0]!.headers.authorization).toBe(`Bearer ${key}`);
    const logs = h.logLines.join('\n');
    expect(logs).not.toContain(echo);
    expect(logs).not.toContain(key.slice(12, 22));
  });
});
