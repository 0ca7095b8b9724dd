import { test as base } from '@playwright/test';

import { AppHeader, ChatPage, LoginPage, RegisterPage, SettingsPage } from './pages';
import { StubClient } from './stub';
import { createAccount, randomClientAddress, type Credentials } from './users';

export { expect } from '@playwright/test';
export * from './pages';
export * from './stub';
export * from './users';

interface Fixtures {
  header: AppHeader;
  loginPage: LoginPage;
  registerPage: RegisterPage;
  chatPage: ChatPage;
  settingsPage: SettingsPage;
  stub: StubClient;
  /** Creates a fresh account (unique email) without signing anyone in. */
  newAccount: (credentials?: Credentials) => Promise<Credentials>;
  /**
   * Automatic: fails the test if the page threw, the WASM panicked, or the browser refused
   * anything under the Content-Security-Policy.
   */
  failOnPageErrors: void;
}

/** Playwright's `test` with the page objects and the stand-in's client as fixtures. */
export const test = base.extend<Fixtures>({
  // Each test is a visitor from its own address (the e2e server trusts 127.0.0.1 as a proxy,
  // see .ci/test), so the per-address limits of one test never reach another.
  extraHTTPHeaders: async ({}, use) => use({ 'x-forwarded-for': randomClientAddress() }),
  header: async ({ page }, use) => use(new AppHeader(page)),
  loginPage: async ({ page }, use) => use(new LoginPage(page)),
  registerPage: async ({ page }, use) => use(new RegisterPage(page)),
  chatPage: async ({ page }, use) => use(new ChatPage(page)),
  settingsPage: async ({ page }, use) => use(new SettingsPage(page)),
  stub: async ({}, use) => use(new StubClient()),
  newAccount: async ({ playwright, baseURL }, use) =>
    use((credentials) => createAccount(playwright.request, baseURL!, credentials)),

  failOnPageErrors: [
    async ({ page }, use, testInfo) => {
      const errors: string[] = [];
      page.on('pageerror', (error) => errors.push(`uncaught: ${error.message}`));
      // The page reports every CSP violation (a script, style or connection refused).
      await page.addInitScript(() => {
        document.addEventListener('securitypolicyviolation', (event) => {
          console.error(
            `CSP violation: ${event.violatedDirective} refused ${event.blockedURI || 'inline'}`,
          );
        });
      });
      page.on('console', (message) => {
        const text = message.text();
        // console_error_panic_hook reports a Rust panic in the browser through console.error.
        if (message.type() === 'error' && /panicked at/.test(text)) {
          errors.push(`panic: ${text}`);
        }
        // Chromium's own report, and the page's (above).
        if (/Content Security Policy|CSP violation/.test(text)) {
          errors.push(`csp: ${text}`);
        }
      });
      await use();
      // A test that makes the network fail on purpose names the errors that may follow
      // (an annotation `allow-page-error` whose description is a regular expression).
      const allowed = testInfo.annotations
        .filter((a) => a.type === 'allow-page-error' && a.description)
        .map((a) => new RegExp(a.description!));
      const unexpected = errors.filter((e) => !allowed.some((re) => re.test(e)));
      errors.splice(0, errors.length, ...unexpected);
      if (errors.length > 0 && testInfo.expectedStatus === 'passed') {
        throw new Error(`the page reported errors:\n${errors.join('\n')}`);
      }
    },
    { auto: true },
  ],
});
