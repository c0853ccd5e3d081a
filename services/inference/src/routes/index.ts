import type Anthropic from '@anthropic-ai/sdk';
import type { InferenceJob } from '@creditgate/contracts';
import { createGuardedFetch, openSecret, type Keyring, type Resolver } from '@creditgate/runtime';
import type OpenAI from 'openai';
import type { InferenceEnv } from '../env.js';
import { ClientPool } from '../upstream/client-pool.js';
import { RouteConfigError } from '../upstream/errors.js';
import { createProviderFetch } from '../upstream/http.js';
import { anthropicUpstream } from './anthropic.js';
import { customEndpointUpstream } from './custom-endpoint.js';
import { platformOpenAiUpstream } from './platform-openai.js';
import type { ProviderLabel, Upstream } from './types.js';

/** Distinct (base URL, key) clients kept per SDK; beyond this the least recently used goes. */
const CLIENT_POOL_SIZE = 512;

export interface UpstreamFactoryOptions {
  /** Injected in tests so names can resolve to chosen addresses. */
  resolve?: Resolver;
}

/**
 * Turns a job's route into a ready upstream call: opens the sealed secrets (in memory only),
 * picks the SDK and the fetch (guarded for custom endpoints), and reuses clients.
 */
export class UpstreamFactory {
  private readonly openAiClients = new ClientPool<OpenAI>(CLIENT_POOL_SIZE);
  private readonly anthropicClients = new ClientPool<Anthropic>(CLIENT_POOL_SIZE);
  private readonly guardedFetch: typeof fetch;
  private readonly providerFetch: typeof fetch;

  constructor(
    private readonly env: InferenceEnv,
    private readonly keyring: Keyring,
    private readonly options: UpstreamFactoryOptions = {},
  ) {
    this.guardedFetch = createGuardedFetch(env.CUSTOM_ENDPOINT_ALLOW, {
      connectTimeoutMs: env.UPSTREAM_CONNECT_TIMEOUT_MS,
      resolve: options.resolve,
    });
    this.providerFetch = createProviderFetch(env.UPSTREAM_CONNECT_TIMEOUT_MS);
  }

  /** The provider label of a route, known before anything is opened. */
  static providerOf(job: InferenceJob): ProviderLabel {
    return job.route.kind === 'custom_endpoint' ? 'custom_endpoint' : job.route.provider;
  }

  /** Throws SsrfError, SecretError, RouteConfigError or UnsupportedRequestError; nothing is sent. */
  async create(job: InferenceJob): Promise<Upstream> {
    const { route } = job;
    const { env } = this;
    const timeoutMs = env.UPSTREAM_FIRST_TOKEN_TIMEOUT_MS;

    if (route.kind === 'custom_endpoint') {
      const apiKey = route.sealedApiKey ? openSecret(this.keyring, route.sealedApiKey) : null;
      return customEndpointUpstream(job, route, apiKey, {
        allow: env.CUSTOM_ENDPOINT_ALLOW,
        resolve: this.options.resolve,
        fetch: this.guardedFetch,
        pool: this.openAiClients,
        timeoutMs,
      });
    }

    const apiKey = route.sealedByoKey
      ? openSecret(this.keyring, route.sealedByoKey)
      : this.platformKey(route.provider);
    switch (route.provider) {
      case 'openai':
      case 'openrouter':
        return platformOpenAiUpstream(job, route.provider, route.providerModelId, apiKey, {
          baseUrl: route.provider === 'openai' ? env.OPENAI_BASE_URL : env.OPENROUTER_BASE_URL,
          pool: this.openAiClients,
          fetch: this.providerFetch,
          timeoutMs,
        });
      case 'anthropic':
        return anthropicUpstream(job, route.providerModelId, apiKey, {
          baseUrl: env.ANTHROPIC_BASE_URL,
          pool: this.anthropicClients,
          fetch: this.providerFetch,
          timeoutMs,
        });
    }
  }

  private platformKey(provider: 'openai' | 'openrouter' | 'anthropic'): string {
    const key = {
      openai: this.env.OPENAI_API_KEY,
      openrouter: this.env.OPENROUTER_API_KEY,
      anthropic: this.env.ANTHROPIC_API_KEY,
    }[provider];
    if (!key) throw new RouteConfigError(`the ${provider} provider has no API key configured`);
    return key;
  }
}
