import type { InferenceJob } from '@creditgate/contracts';

/**
 * Why a job's billing decision does not allow the route it carries, or null when it does.
 * The worker executes exactly what billing authorized: a free approval (custom endpoint, BYO
 * key) never pays for a metered route, and a BYO approval never runs on the operator's key.
 */
export function routeMismatch(job: InferenceJob, meterCustomEndpoints: boolean): string | null {
  const { decision, route } = job;
  if (decision.requestId !== job.requestId) return 'the approval belongs to another request';
  if (decision.decision !== 'approved') return 'the request was not approved';

  const metered = decision.reason === 'balance' || decision.reason === 'overspend';
  switch (route.kind) {
    case 'custom_endpoint':
      if (decision.reason === 'custom_endpoint') return null;
      if (meterCustomEndpoints && metered) return null;
      return `a custom endpoint cannot run on a "${decision.reason}" approval`;
    case 'platform':
      if (route.sealedByoKey !== null) {
        return decision.reason === 'byo_key'
          ? null
          : `a request with the user's own provider key cannot run on a "${decision.reason}" approval`;
      }
      return metered ? null : `a platform model cannot run on a "${decision.reason}" approval`;
  }
}
