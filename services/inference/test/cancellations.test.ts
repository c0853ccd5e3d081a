import { describe, expect, it } from 'vitest';
import { Cancellations } from '../src/jobs/cancellations.js';
import { JobAbort } from '../src/upstream/errors.js';

describe('Cancellations', () => {
  it('aborts a running job with the cancelled reason', () => {
    const cancellations = new Cancellations();
    const signal = cancellations.register('req_a');
    cancellations.cancel('req_a');
    expect(signal.aborted).toBe(true);
    expect((signal.reason as JobAbort).kind).toBe('cancelled');
  });

  it('remembers a cancel that arrives before the job starts, for a while only', () => {
    let now = 0;
    const cancellations = new Cancellations(() => now);
    cancellations.cancel('req_early');
    cancellations.cancel('req_late');
    expect(cancellations.register('req_early').aborted).toBe(true);

    now = 121_000;
    expect(cancellations.register('req_late').aborted).toBe(false);
  });

  it('aborts every running job at shutdown', () => {
    const cancellations = new Cancellations();
    const signals = ['req_1', 'req_2'].map((id) => cancellations.register(id));
    cancellations.release('req_2');
    cancellations.abortAll();
    expect(signals[0]!.aborted).toBe(true);
    expect((signals[0]!.reason as JobAbort).kind).toBe('shutdown');
    expect(signals[1]!.aborted).toBe(false);
  });
});

describe('Cancellations when draining', () => {
  it('hands back jobs that have not streamed, leaves streaming ones to the deadline', () => {
    const cancellations = new Cancellations();
    const waiting = cancellations.register('req_waiting');
    const streaming = cancellations.register('req_streaming');
    cancellations.markStreaming('req_streaming');

    expect(cancellations.drain()).toEqual({ handedBack: 1, streaming: 1 });
    expect((waiting.reason as JobAbort).kind).toBe('handback');
    expect(streaming.aborted).toBe(false);

    cancellations.abortAll();
    expect((streaming.reason as JobAbort).kind).toBe('shutdown');
    expect((waiting.reason as JobAbort).kind).toBe('handback');
  });

  it('hands back a job that starts after draining began', () => {
    const cancellations = new Cancellations();
    cancellations.drain();
    expect((cancellations.register('req_late').reason as JobAbort).kind).toBe('handback');
  });

  it('keeps a cancel ahead of a hand-back', () => {
    const cancellations = new Cancellations();
    cancellations.cancel('req_gone');
    cancellations.drain();
    expect((cancellations.register('req_gone').reason as JobAbort).kind).toBe('cancelled');
  });
});
