import { defineConfig } from '@playwright/test';

import { baseURL, chromiumPath } from './tests/support/env';

/**
 * ApexAurum end-to-end tests. `cargo leptos end-to-end` (see .ci/test) builds the app, starts
 * the server and runs `npx playwright test` here; the server's address comes in through
 * E2E_BASE_URL. The browser is Debian's Chromium (no `npx playwright install` on this
 * machine), headless.
 */
export default defineConfig({
  testDir: './tests',
  globalSetup: './tests/global-setup.ts',
  timeout: 30_000,
  expect: { timeout: 10_000 },
  // Every test makes its own account, but the Anthropic stand-in (its faults and
  // revocations) is shared by all: one worker keeps a fault from reaching another test.
  fullyParallel: true,
  workers: 1,
  retries: process.env.CI ? 1 : 0,
  forbidOnly: !!process.env.CI,
  reporter: 'list',
  outputDir: './test-results',
  use: {
    baseURL,
    browserName: 'chromium',
    headless: true,
    viewport: { width: 1280, height: 800 },
    trace: 'on-first-retry',
    screenshot: 'only-on-failure',
    actionTimeout: 10_000,
    navigationTimeout: 20_000,
    launchOptions: {
      executablePath: chromiumPath,
      args: [
        '--no-sandbox',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-gpu',
        '--no-first-run',
        '--disable-sync',
      ],
    },
  },
  projects: [{ name: 'chromium' }],
});
