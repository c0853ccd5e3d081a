/**
 * Requests that are relaying a model stream right now. Shutdown lets them finish until its
 * deadline, then aborts what is left (each abort cancels its request upstream).
 */
export class InFlightStreams {
  private readonly controllers = new Set<AbortController>();
  private readonly cancellations = new Set<Promise<void>>();

  get size(): number {
    return this.controllers.size;
  }

  /** A controller aborted at shutdown; call the returned function when the stream ends. */
  track(): { signal: AbortSignal; controller: AbortController; done: () => void } {
    const controller = new AbortController();
    this.controllers.add(controller);
    return {
      signal: controller.signal,
      controller,
      done: () => this.controllers.delete(controller),
    };
  }

  /** Keeps a cancellation in view so shutdown can wait for it before closing Redis. */
  trackCancellation(cancellation: Promise<void>): void {
    this.cancellations.add(cancellation);
    void cancellation.finally(() => this.cancellations.delete(cancellation));
  }

  /** Resolves once every cancellation started so far has been delivered (or has failed). */
  async cancellationsSettled(): Promise<void> {
    await Promise.allSettled([...this.cancellations]);
  }

  abortAll(reason: Error): void {
    for (const controller of this.controllers) controller.abort(reason);
    this.controllers.clear();
  }
}
