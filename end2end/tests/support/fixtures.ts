import { test as base } from '@playwright/test';

import { AppHeader, ChatPage, LoginPage, RegisterPage, SettingsPage } from './pages';
import { StubClient } from './stub';
import { createAccount, type Credentials } from './users';

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
  /** Automatic: fails the test if the page threw or the WASM panicked. */
  failOnPageErrors: void;
}

/** Playwright's `test` with the page objects and the stand-in's client as fixtures. */
export const test = base.extend<Fixtures>({
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
      page.on('console', (message) => {
        // console_error_panic_hook reports a Rust panic in the browser through console.error.
        if (message.type() === 'error' && /panicked at/.test(message.text())) {
          errors.push(`panic: ${message.text()}`);
        }
      });
      await use();
      if (errors.length > 0 && testInfo.expectedStatus === 'passed') {
        throw new Error(`the page reported errors:\n${errors.join('\n')}`);
      }
    },
    { auto: true },
  ],
});
