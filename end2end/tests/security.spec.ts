import type { Page } from '@playwright/test';

import { expect, randomClientAddress, signInViaApi, test } from './support/fixtures';

/** Settings → Password and sessions, by role and name. */
function sessionsPanel(page: Page) {
  const region = page.getByRole('region', { name: 'Password and sessions', exact: true });
  return {
    region,
    current: page.getByLabel('Current password', { exact: true }),
    next: page.getByLabel('New password', { exact: true }),
    change: region.getByRole('button', { name: /^(Change password|Changing…)$/ }),
    logOutOthers: region.getByRole('button', { name: /^(Log out other sessions|Logging out…)$/ }),
    notice: region.getByRole('status'),
    alert: region.getByRole('alert'),
    toggle: region.getByRole('button', { name: /^(Show|Hide)$/ }).first(),
  };
}

/** Opens Settings signed in, once the page has hydrated (under the CSP). */
async function openSettings(page: Page) {
  await page.goto('/settings');
  const p = sessionsPanel(page);
  await expect(p.region).toBeVisible();
  await expect(async () => {
    await p.toggle.click();
    await expect(p.toggle).toHaveText('Hide', { timeout: 250 });
  }).toPass({ timeout: 20_000 });
  await p.toggle.click();
  return p;
}

test.describe('safe on the open internet', () => {
  test('pages come with a nonce-based CSP and still hydrate', async ({ page, loginPage }) => {
    const response = await page.goto('/login');
    const csp = response!.headers()['content-security-policy'];
    expect(csp).toMatch(/script-src 'self' 'nonce-[A-Za-z0-9_-]{22}' 'wasm-unsafe-eval'/);
    expect(csp).toContain("frame-ancestors 'none'");
    expect(response!.headers()['x-content-type-options']).toBe('nosniff');
    // The Show toggle works only once the WASM has hydrated the page; a refused script
    // would also fail the test through the CSP listener in the fixtures.
    await loginPage.waitForHydration();
  });

  test('changing the password logs out every other session', async ({
    page,
    browser,
    baseURL,
    newAccount,
  }) => {
    const account = await newAccount();
    await signInViaApi(page.request, account);
    const laptop = await browser.newContext({
      baseURL,
      extraHTTPHeaders: { 'x-forwarded-for': randomClientAddress() },
    });
    try {
      await signInViaApi(laptop.request, account);
      expect((await laptop.request.get('/api/v1/auth/me')).status()).toBe(200);

      const p = await openSettings(page);
      await p.current.fill('not my password');
      await p.next.fill('a brand new password');
      await p.change.click();
      await expect(p.alert).toHaveText('Your current password is incorrect.');

      await p.current.fill(account.password);
      await p.next.fill('a brand new password');
      await p.change.click();
      await expect(p.notice).toHaveText('Password changed. Every other session has been logged out.');
      await expect(p.current).toHaveValue('');

      expect((await laptop.request.get('/api/v1/auth/me')).status()).toBe(401);
      expect((await page.request.get('/api/v1/auth/me')).status()).toBe(200);
    } finally {
      await laptop.close();
    }
  });

  test('"Log out other sessions" keeps only this one', async ({ page, browser, baseURL, newAccount }) => {
    const account = await newAccount();
    await signInViaApi(page.request, account);
    const phone = await browser.newContext({
      baseURL,
      extraHTTPHeaders: { 'x-forwarded-for': randomClientAddress() },
    });
    try {
      await signInViaApi(phone.request, account);
      const p = await openSettings(page);
      await p.logOutOthers.click();
      await expect(p.notice).toHaveText('Every other session has been logged out.');
      expect((await phone.request.get('/api/v1/auth/me')).status()).toBe(401);
      await page.reload();
      await expect(sessionsPanel(page).region).toBeVisible();
    } finally {
      await phone.close();
    }
  });
});
