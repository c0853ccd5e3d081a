import { parseAmount } from '@creditgate/contracts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { streamReply } from '../support/fake-upstream.js';
import { OPENAI_SCENARIO, startStack, type Stack } from '../support/stack.js';

/**
 * A hold expires after HOLD_TTL_SECONDS and its credits become available again. An answer still
 * running then must not go on spending them: the worker cuts it at the authorization's
 * `settleBy` and settles it while its hold still stands, so a second request approved later
 * cannot take the balance below zero. The hold lives four seconds here; the answer would take
 * six.
 */
let stack: Stack;
beforeAll(async () => {
  stack = await startStack({ env: { HOLD_TTL_SECONDS: '4', HOLD_SWEEP_INTERVAL_MS: '100' } });
});
afterAll(async () => {
  await stack?.close();
});

const pieces = Array.from({ length: 20 }, (_, i) => `t${i} `);

describe('an answer that outlives its hold', () => {
  it('is cut and settled before the hold expires, and the balance never goes below zero', async () => {
    stack.upstream.scenario(
      OPENAI_SCENARIO,
      streamReply({ content: pieces, usage: { prompt: 10, completion: 20 } }, undefined, {
        intervalMs: 300,
      }),
    );
    const user = await stack.createUser('slow');
    // Enough for one hold of 30 output tokens, not for two.
    await stack.mint(user.userId, '0.000021');
    const openai = stack.openai(user.apiKey);
    const ask = () =>
      openai.chat.completions.create({
        model: 'gpt-4o-mini',
        messages: [{ role: 'user', content: 'count slowly' }],
        max_tokens: 30,
        stream: true,
      });

    const started = Date.now();
    const stream = await ask();
    let text = '';
    const failure = await (async () => {
      try {
        for await (const chunk of stream) text += chunk.choices[0]?.delta?.content ?? '';
      } catch (error) {
        return error as Error;
      }
      return null;
    })();
    // Cut, not finished: the answer would have needed six seconds. That the cut came in time is
    // shown below by the hold having been released by settle, not by the sweeper.
    expect(failure?.message).toMatch(/credit hold/);
    expect(text.length).toBeGreaterThan(0);
    expect(text).not.toBe(pieces.join(''));

    // Past the hold's expiry and a few sweeps: the next request is judged on what is left.
    await new Promise((resolve) => setTimeout(resolve, 4_500 - (Date.now() - started)));
    const second = await ask()
      .then(async (again) => {
        for await (const _chunk of again) void _chunk;
        return 'answered';
      })
      .catch((error: Error) => error.message);
    expect(second === 'answered' || /credit hold|insufficient credits/.test(second)).toBe(true);

    const { totals, held } = await stack.trpc(user.apiKey).credits.balance.query();
    expect(parseAmount(totals.credit!)).toBeGreaterThanOrEqual(0n);
    expect(held.credit).toBe('0');
    const history = await stack.trpc(user.apiKey).credits.history.query({ kinds: ['release'] });
    const reasons = history.entries.map((entry) => entry.reason);
    expect(reasons).toContain('request settled');
    expect(reasons).not.toContain('hold expired');
  });
});
