import { expect, type APIRequest, type APIRequestContext } from '@playwright/test';

/** A password that meets the app's policy (at least 8 characters). */
export const PASSWORD = 'correct horse battery staple';

/** An address no other test (or earlier run against the same database) uses. */
export function uniqueEmail(tag = 'user'): string {
  const random = Math.random().toString(36).slice(2, 10);
  return `e2e-${tag}-${Date.now()}-${random}@example.org`;
}

/** An address from the benchmarking range (198.18.0.0/15) for one visitor. */
export function randomClientAddress(): string {
  const byte = () => Math.floor(Math.random() * 254) + 1;
  return `198.${18 + Math.floor(Math.random() * 2)}.${byte()}.${byte()}`;
}

export interface Credentials {
  email: string;
  password: string;
}

/**
 * Creates an account through the JSON API in a throwaway request context, so that neither
 * the page nor the test's `request` fixture ends up signed in (registering signs in the
 * client that registered).
 */
export async function createAccount(
  requests: APIRequest,
  baseURL: string,
  credentials: Credentials = { email: uniqueEmail(), password: PASSWORD },
): Promise<Credentials> {
  const context = await requests.newContext({
    baseURL,
    extraHTTPHeaders: { 'x-forwarded-for': randomClientAddress() },
  });
  try {
    const response = await context.post('/api/v1/auth/register', { data: credentials });
    expect(response.status(), `registering ${credentials.email}: ${await response.text()}`).toBe(201);
    return credentials;
  } finally {
    await context.dispose();
  }
}

/**
 * Signs the page's browser context in through the JSON API (`page.request` shares the
 * page's cookies), for tests about what a signed-in person sees rather than the login form.
 */
export async function signInViaApi(
  pageRequest: APIRequestContext,
  { email, password }: Credentials,
): Promise<void> {
  const response = await pageRequest.post('/api/v1/auth/login', { data: { email, password } });
  expect(response.ok(), `signing in ${email}: ${response.status()} ${await response.text()}`).toBe(true);
}
