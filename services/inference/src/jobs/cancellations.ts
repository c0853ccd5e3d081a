import { JobAbort } from '../upstream/errors.js';

/** How long a cancel for a request this process is not running is remembered. */
const EARLY_CANCEL_TTL_MS = 120_000;
const EARLY_CANCEL_MAX = 10_000;

/**
 * The abort handles of the jobs this process runs. Every worker process receives every cancel
 * (Redis pub/sub fans out), so a cancel for a request that is still queued is remembered for a
 * while: the job is then dropped when it starts instead of being sent upstream.
 */
export class Cancellations {
  private readonly active = new Map<string, AbortController>();
  private readonly early = new Map<string, number>();

  constructor(private readonly now: () => number = Date.now) {}

  /** Registers a starting job; its signal is already aborted when a cancel came first. */
  register(requestId: string): AbortSignal {
    const controller = new AbortController();
    this.active.set(requestId, controller);
    const expiry = this.early.get(requestId);
    if (expiry !== undefined) {
      this.early.delete(requestId);
      if (expiry > this.now()) controller.abort(new JobAbort('cancelled'));
    }
    return controller.signal;
  }

  release(requestId: string): void {
    this.active.delete(requestId);
  }

  cancel(requestId: string): void {
    const controller = this.active.get(requestId);
    if (controller) {
      if (!controller.signal.aborted) controller.abort(new JobAbort('cancelled'));
      return;
    }
    this.pruneEarly();
    this.early.set(requestId, this.now() + EARLY_CANCEL_TTL_MS);
  }

  /** Aborts every running job (shutdown deadline reached). */
  abortAll(): void {
    for (const controller of this.active.values()) {
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
