import { JobAbort } from '../upstream/errors.js';

/** How long a cancel for a request this process is not running is remembered. */
const EARLY_CANCEL_TTL_MS = 120_000;
const EARLY_CANCEL_MAX = 10_000;

interface ActiveJob {
  controller: AbortController;
  /** The first chunk went to the client's stream: the job can no longer be handed back. */
  streaming: boolean;
}

/**
 * The abort handles of the jobs this process runs. Every worker process receives every cancel
 * (Redis pub/sub fans out), so a cancel for a request that is still queued is remembered for a
 * while: the job is then dropped when it starts instead of being sent upstream.
 *
 * At shutdown, a job that has not streamed anything yet is aborted with `handback` (it goes back
 * to the queue for another worker); one that has streamed may finish until the deadline.
 */
export class Cancellations {
  private readonly active = new Map<string, ActiveJob>();
  private readonly early = new Map<string, number>();
  private draining = false;

  constructor(private readonly now: () => number = Date.now) {}

  /**
   * Registers a starting job; its signal is already aborted when a cancel came first, or with
   * `handback` when the process is draining.
   */
  register(requestId: string): AbortSignal {
    const controller = new AbortController();
    this.active.set(requestId, { controller, streaming: false });
    const expiry = this.early.get(requestId);
    if (expiry !== undefined) {
      this.early.delete(requestId);
      if (expiry > this.now()) controller.abort(new JobAbort('cancelled'));
    }
    if (this.draining && !controller.signal.aborted) controller.abort(new JobAbort('handback'));
    return controller.signal;
  }

  /**
   * Records that the job is about to write its first chunk. The relay checks its signal just
   * before calling this, in the same synchronous step, so a job is either handed back with
   * nothing streamed or marked here and never handed back.
   */
  markStreaming(requestId: string): void {
    const job = this.active.get(requestId);
    if (job) job.streaming = true;
  }

  release(requestId: string): void {
    this.active.delete(requestId);
  }

  cancel(requestId: string): void {
    const job = this.active.get(requestId);
    if (job) {
      if (!job.controller.signal.aborted) job.controller.abort(new JobAbort('cancelled'));
      return;
    }
    this.pruneEarly();
    this.early.set(requestId, this.now() + EARLY_CANCEL_TTL_MS);
  }

  /**
   * Shutdown begins: every job that has not streamed yet is aborted with `handback`, and so is
   * any job that starts from now on. Returns how many were handed back and how many stream on.
   */
  drain(): { handedBack: number; streaming: number } {
    this.draining = true;
    let handedBack = 0;
    for (const job of this.active.values()) {
      if (job.streaming || job.controller.signal.aborted) continue;
      job.controller.abort(new JobAbort('handback'));
      handedBack += 1;
    }
    return { handedBack, streaming: this.active.size - handedBack };
  }

  /** Aborts every running job (shutdown deadline reached). */
  abortAll(): void {
    for (const { controller } of this.active.values()) {
      if (!controller.signal.aborted) controller.abort(new JobAbort('shutdown'));
    }
  }

  get size(): number {
    return this.active.size;
  }

  private pruneEarly(): void {
    const now = this.now();
    for (const [id, expiry] of this.early) {
      // Insertion order is expiry order, so the first live entry ends the sweep.
      if (expiry > now && this.early.size < EARLY_CANCEL_MAX) break;
      this.early.delete(id);
    }
  }
}
