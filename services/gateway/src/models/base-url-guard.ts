import { AppError } from '@creditgate/contracts';
import { checkBaseUrl, SsrfError, type Allowlist, type Resolver } from '@creditgate/runtime';

export interface BaseUrlGuard {
  allow: Allowlist;
  /** DNS resolver; tests inject a stub so names can resolve to chosen addresses. */
  resolve?: Resolver;
}

/**
 * Refuses a custom endpoint base URL that would let a user reach inside the operator's network.
 * The error names the rule that refused it, never the address the name resolved to.
 */
export async function assertBaseUrlAllowed(guard: BaseUrlGuard, baseUrl: string): Promise<void> {
  try {
    await checkBaseUrl(baseUrl, guard.allow, guard.resolve);
  } catch (error) {
    if (error instanceof SsrfError) {
      throw new AppError('invalid_request_error', `baseUrl ${error.message}`, {
        details: { rule: error.rule },
      });
    }
    throw error;
  }
}
