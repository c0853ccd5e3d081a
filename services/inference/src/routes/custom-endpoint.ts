import type { InferenceJob, JobRoute } from '@creditgate/contracts';
import { checkBaseUrl, type Allowlist, type Resolver } from '@creditgate/runtime';
import OpenAI from 'openai';
import type { ClientPool } from '../upstream/client-pool.js';
import { openAiCompatibleUpstream } from './openai-compatible.js';
import type { Upstream } from './types.js';

/*
 * Custom endpoints: the user's own OpenAI-compatible server, reached through the SSRF guard.
 */

/**
 * The base URL as the OpenAI SDK wants it. The SDK appends `/chat/completions` to whatever path
 * the user gave; the only rewrites are the harmless ones: trailing slashes go, and a base that
 * already ends in `/chat/completions` loses that suffix so it is not doubled. Nothing is guessed:
 * `http://host:8000` stays without `/v1`, `.../v1beta/openai` stays as is. A query string (for
 * example `api-version`) is kept and sent with every request.
 */
export function splitBaseUrl(baseUrl: string): { baseURL: string; query: Record<string, string> } {
  const url = new URL(baseUrl);
  const query = Object.fromEntries(url.searchParams);
  url.search = '';
  url.hash = '';

  let path = url.pathname.replace(/\/+$/, '');
  if (/\/chat\/completions$/i.test(path)) path = path.slice(0, -'/chat/completions'.length);
  url.pathname = path || '/';

  return { baseURL: url.toString().replace(/\/+$/, ''), query };
}

/**
 * The SDK insists on a key; a server that needs none gets this placeholder in the SDK only,
 * and the Authorization header is then removed, so nothing at all is sent.
 */
export const NO_KEY_PLACEHOLDER = 'creditgate-no-key';

export interface CustomEndpointContext {
  allow: Allowlist;
  resolve: Resolver | undefined;
  fetch: typeof fetch;
  pool: ClientPool<OpenAI>;
  timeoutMs: number;
}

/**
 * Builds the call to a custom endpoint. The base URL is checked here first, so a refused
 * address fails at once with its rule; the guarded fetch checks again at connect time.
 */
export async function customEndpointUpstream(
  job: InferenceJob,
  route: Extract<JobRoute, { kind: 'custom_endpoint' }>,
  apiKey: string | null,
  ctx: CustomEndpointContext,
): Promise<Upstream> {
  await checkBaseUrl(route.baseUrl, ctx.allow, ctx.resolve);
  const { baseURL, query } = splitBaseUrl(route.baseUrl);

  const client = ctx.pool.get(['custom', route.baseUrl, apiKey ?? ''], () => {
    return new OpenAI({
      baseURL,
      apiKey: apiKey ?? NO_KEY_PLACEHOLDER,
      // Explicit nulls: the SDK would otherwise read OPENAI_ORG_ID / OPENAI_PROJECT_ID from the
      // environment and send the operator's identifiers to a user's server.
      organization: null,
      project: null,
      defaultQuery: Object.keys(query).length ? query : undefined,
      defaultHeaders: apiKey === null ? { Authorization: null } : undefined,
      fetch: ctx.fetch,
      maxRetries: 0,
    });
  });

  return openAiCompatibleUpstream(job, {
    provider: 'custom_endpoint',
    client,
    model: route.providerModelId,
    maxTokensField: 'max_tokens',
    timeoutMs: ctx.timeoutMs,
    secrets: apiKey ? [apiKey] : [],
  });
}
