import type { FullConfig } from '@playwright/test';

import { baseURL as defaultBaseURL, stubURL } from './support/env';

const DEADLINE_MS = 90_000;
const INTERVAL_MS = 500;

/**
 * `cargo leptos end-to-end` starts the server and the tests at the same moment; the server
 * needs a few seconds (database, migrations) before it answers. Wait for /healthz.
 */
export default async function globalSetup(config: FullConfig): Promise<void> {
  const baseURL = config.projects[0]?.use.baseURL ?? defaultBaseURL;
  const url = `${baseURL}/healthz`;
  const started = Date.now();
  let last = 'no answer yet';
  while (Date.now() - started < DEADLINE_MS) {
    try {
      const response = await fetch(url, { signal: AbortSignal.timeout(5_000) });
      if (response.ok) {
        console.log(`app is up at ${baseURL} after ${((Date.now() - started) / 1000).toFixed(1)} s`);
        await checkStub();
        return;
      }
      last = `HTTP ${response.status}`;
    } catch (error) {
      last = error instanceof Error ? `${error.message}${error.cause ? ` (${String(error.cause)})` : ''}` : String(error);
    }
    await new Promise((resolve) => setTimeout(resolve, INTERVAL_MS));
  }
  throw new Error(`the app did not answer ${url} within ${DEADLINE_MS / 1000} s (last: ${last})`);
}

/** The Anthropic stand-in is only needed by tests about keys and chat: warn, don't fail. */
async function checkStub(): Promise<void> {
  try {
    const response = await fetch(`${stubURL}/_stub/requests`, { signal: AbortSignal.timeout(5_000) });
    if (response.ok) return;
    console.warn(`warning: the Anthropic stand-in at ${stubURL} answered HTTP ${response.status}`);
  } catch {
    console.warn(`warning: no Anthropic stand-in at ${stubURL} (tests that use it will fail)`);
  }
}
