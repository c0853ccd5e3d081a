import { describe, expect, it } from 'vitest';
import { countPromptTokens } from '../src/requests/prompt-tokens.js';

const user = (content: string) => ({ messages: [{ role: 'user' as const, content }] });

describe('countPromptTokens', () => {
  it('counts ordinary text with the tokenizer', () => {
    const short = countPromptTokens(user('Say hello'));
    const longer = countPromptTokens(user('Say hello to everyone in the room, politely.'));
    expect(short).toBeGreaterThan(3);
    expect(longer).toBeGreaterThan(short);
  });

  // Regression: BPE on one long run without whitespace is superlinear; 2,000 CJK characters
  // or a few thousand repeated letters used to block the event loop for seconds to hours.
  it('bounds long runs without whitespace by their UTF-8 bytes instead of tokenizing them', () => {
    const base = countPromptTokens(user(''));
    // The bound, plus at most the one token of the space a run is replaced with.
    const cjk = countPromptTokens(user('中'.repeat(2_000)));
    expect(cjk - base - 6_000).toBeGreaterThanOrEqual(0);
    expect(cjk - base - 6_000).toBeLessThanOrEqual(1);
    expect(countPromptTokens(user('x'.repeat(900_000)))).toBe(base + 900_000);
    expect(countPromptTokens(user(`hi ${'x'.repeat(5_000)} there`))).toBeGreaterThanOrEqual(
      base + 5_000,
    );
  });

  it('refuses a structure nested too deeply to serialise with a 400, not a crash', () => {
    let nested: Record<string, unknown> = {};
    for (let i = 0; i < 20_000; i++) nested = { a: nested };
    expect(() =>
      countPromptTokens({ ...user('hi'), tools: [{ type: 'function', function: nested }] }),
    ).toThrow(expect.objectContaining({ code: 'invalid_request_error' }));
  });
});
