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
