import { stubURL } from './env';

/**
 * The project's Anthropic stand-in (binary `anthropic-stub`, started by .ci/test on
 * STUB_URL). Keys starting `sk-ant-` are accepted unless they contain `invalid` or were
 * revoked; faults make the next requests to `/v1/*` misbehave on purpose.
 *
 * The stand-in is shared by every test and worker: a test that sets a fault should run
 * serially (`test.describe.configure({ mode: 'serial' })`) and reset it afterwards.
 */
export type StubFault =
  | { kind: 'status'; status: number; count?: number }
  | { kind: 'slow'; delay_ms?: number; count?: number }
  | { kind: 'hang'; count?: number }
  | { kind: 'drop'; after_deltas?: number; count?: number }
  | { kind: 'error_event'; count?: number }
  | { kind: 'rate_limited'; retry_after_secs?: number; count?: number }
  | { kind: 'out_of_credit'; status?: 400 | 402; count?: number }
  | { kind: 'prompt_too_long'; count?: number }
  | { kind: 'rate_limit_low'; remaining?: number; limit?: number; count?: number };

/** One request the stand-in received on `/v1/*` (its key masked). */
export interface StubRequest {
  method: string;
  path: string;
  api_key: string | null;
  anthropic_version: string | null;
  body: unknown;
}

export class StubClient {
  constructor(readonly baseURL: string = stubURL) {}

  /** Clears faults, revocations and the recorded requests. */
  async reset(): Promise<void> {
    await this.post('/_stub/reset');
  }

  /** From now on the stand-in answers this key with 401, as Anthropic does a revoked key. */
  async revoke(apiKey: string): Promise<void> {
    await this.post('/_stub/revoke', { api_key: apiKey });
  }

  /** Makes the next `count` requests (or all, until reset) misbehave. */
  async fault(fault: StubFault): Promise<void> {
    await this.post('/_stub/fault', fault);
  }

  /** What reached the stand-in since the last reset. */
  async requests(): Promise<StubRequest[]> {
    const response = await fetch(`${this.baseURL}/_stub/requests`);
    if (!response.ok) {
      throw new Error(`GET /_stub/requests answered ${response.status}: ${await response.text()}`);
    }
    return (await response.json()) as StubRequest[];
  }

  /** How many answer streams the stand-in saw closed by the client before they ended. */
  async cutStreams(): Promise<number> {
    const response = await fetch(`${this.baseURL}/_stub/cut-streams`);
    if (!response.ok) {
      throw new Error(`GET /_stub/cut-streams answered ${response.status}: ${await response.text()}`);
    }
    return ((await response.json()) as { cut_streams: number }).cut_streams;
  }

  private async post(path: string, body?: unknown): Promise<void> {
    const response = await fetch(`${this.baseURL}${path}`, {
      method: 'POST',
      headers: body === undefined ? {} : { 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    if (!response.ok) {
      throw new Error(`POST ${path} answered ${response.status}: ${await response.text()}`);
    }
  }
}

function randomAlnum(length: number): string {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
  let out = '';
  for (let i = 0; i < length; i++) out += alphabet[Math.floor(Math.random() * alphabet.length)];
  return out;
}

/**
 * A key the stand-in accepts, in the app's format (`sk-ant-`, 40 to 256 characters of
 * A-Z a-z 0-9 - _). Each call gives a new one, so revoking it affects one test only.
 */
export function validApiKey(): string {
  return `sk-ant-api03-e2e${randomAlnum(48)}AA`;
}

/** A well-formed key the stand-in refuses with 401 (it contains `invalid`). */
export function invalidApiKey(): string {
  return `sk-ant-api03-invalid${randomAlnum(44)}AA`;
}
