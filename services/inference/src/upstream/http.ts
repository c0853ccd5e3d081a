import { Agent, fetch as undiciFetch } from 'undici';

/**
 * The `fetch` for platform providers: their base URLs come from the operator's configuration,
 * so no SSRF guard, but the same connect timeout and one shared pool of keep-alive connections.
 * Redirects are not followed here either: a provider API answers, it does not redirect.
 */
export function createProviderFetch(connectTimeoutMs: number): typeof fetch {
  const agent = new Agent({ connect: { timeout: connectTimeoutMs } });
  const provider = (
    input: Parameters<typeof undiciFetch>[0],
    init?: Parameters<typeof undiciFetch>[1],
  ) => undiciFetch(input, { ...init, redirect: 'manual', dispatcher: agent });
  return provider as unknown as typeof fetch;
}
