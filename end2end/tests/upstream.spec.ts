import { expect, signInViaApi, test, validApiKey } from './support/fixtures';
import { send } from './support/chat';
import type { Page } from '@playwright/test';

/**
 * Anthropic's troubles told apart in the composer, driven by the stand-in's magic words
 * (`[[rate-limited:N]]` and `[[overloaded-status]]` fire once per message text, so Retry
 * goes through), and the key's activity in Settings.
 */

function chat(page: Page) {
  return {
    message: page.getByLabel('Message', { exact: true }),
    send: page.getByRole('button', { name: 'Send', exact: true }),
    retry: page.getByRole('button', { name: 'Retry', exact: true }),
    log: page.getByRole('log'),
    notice: page.getByRole('alert'),
  };
}

/** A message text no earlier run has used (the one-shot magic words remember texts). */
function unique(text: string): string {
  return `${text} ${Date.now()}-${Math.floor(Math.random() * 1e6)}`;
}

async function chatWithKey(page: Page, newAccount: () => Promise<{ email: string; password: string }>) {
  const account = await newAccount();
  await signInViaApi(page.request, account);
  const key = validApiKey();
  const saved = await page.request.post('/api/v1/user/api-key', { data: { api_key: key } });
  expect(saved.status()).toBe(200);
  await page.goto('/chat');
  return key;
}

test.describe.configure({ mode: 'serial' });

test.beforeEach(async ({ stub }) => {
  await stub.reset();
});

test('a rate limit counts down to Retry, which sends the same message once', async ({ page, newAccount }) => {
  await chatWithKey(page, newAccount);
  const c = chat(page);
  const text = unique('wait for me [[rate-limited:3]]');
  await send(page, text);
  await expect(c.notice).toContainText('Anthropic is rate-limiting your key.');
  await expect(c.notice).toContainText(/Retry in [1-3] s/);
  await expect(c.retry).toBeDisabled();
  await expect(c.notice).toContainText('You can retry now.', { timeout: 6_000 });
  await expect(c.retry).toBeEnabled();
  // From the keyboard.
  await c.retry.focus();
  await page.keyboard.press('Enter');
  await expect(c.log.getByText(`Hello from the Anthropic stand-in. You said: ${text}`)).toBeVisible();
  await expect(c.notice).toHaveCount(0);

  await page.reload();
  await expect(c.log.getByText(text, { exact: true })).toHaveCount(1);
  await expect(c.log.getByText(`You said: ${text}`)).toHaveCount(1);
});

test('an overload says so and Retry goes through; so does one mid-stream', async ({ page, newAccount }) => {
  await chatWithKey(page, newAccount);
  const c = chat(page);
  const text = unique('busy [[overloaded-status]]');
  await send(page, text);
  await expect(c.notice).toContainText('Anthropic is overloaded right now; try again in a moment.');
  await c.retry.click();
  await expect(c.log.getByText(`You said: ${text}`)).toBeVisible();

  await send(page, unique('mid-stream [[overloaded]]'));
  await expect(c.notice).toContainText('Anthropic is overloaded right now; try again in a moment.');
  await expect(c.retry).toBeEnabled();
});

test('an account out of credit points to Anthropic\'s billing page', async ({ page, newAccount }) => {
  await chatWithKey(page, newAccount);
  const c = chat(page);
  await send(page, unique('pay up [[out-of-credit]]'));
  await expect(c.notice).toContainText('Your Anthropic account is out of credit.');
  const link = c.notice.getByRole('link', { name: "Add credit in Anthropic's console" });
  await expect(link).toHaveAttribute('href', 'https://console.anthropic.com/settings/billing');
  await expect(link).toHaveAttribute('target', '_blank');
});

test('a conversation too long for the model offers a new conversation', async ({ page, newAccount }) => {
  await chatWithKey(page, newAccount);
  const c = chat(page);
  await send(page, 'a first message');
  await expect(c.log.getByText('You said: a first message')).toBeVisible();
  await expect(page).toHaveURL(/\/chat\?c=/);
  await send(page, unique('so much [[too-long]]'));
  await expect(c.notice).toContainText('This conversation is too long for the model.');
  await c.notice.getByRole('link', { name: 'Start a new conversation' }).click();
  await expect(page).toHaveURL(/\/chat$/);
  await expect(page.getByRole('group', { name: 'Choose an Agent' })).toBeVisible();
  await expect(c.notice).toHaveCount(0);
  await expect(c.message).toBeFocused();
});

test('a rate limit nearly used up is noted in the composer', async ({ page, newAccount }) => {
  await chatWithKey(page, newAccount);
  const c = chat(page);
  await send(page, 'plenty left');
  await expect(c.log.getByText('You said: plenty left')).toBeVisible();
  await expect(page.getByText('Your Anthropic rate limit is nearly used up')).toHaveCount(0);
  await send(page, 'nearly out [[ratelimit-low]]');
  await expect(
    page.getByRole('status').filter({ hasText: 'Your Anthropic rate limit is nearly used up' }),
  ).toHaveText('Your Anthropic rate limit is nearly used up: 3 of 50 requests left this minute.');
});

test('Settings lists the key\'s activity and when it was last checked', async ({ page, newAccount }) => {
  const key = await chatWithKey(page, newAccount);
  const hint = `${key.slice(0, 10)}...${key.slice(-4)}`;
  await page.goto('/settings');
  const activity = page.getByRole('region', { name: 'Key activity' });
  await expect(activity.getByText(`Key saved (${hint}), accepted by Anthropic`)).toBeVisible();
  await expect(page.getByText(/^Last checked: /)).toBeVisible();

  const test = page.getByRole('button', { name: 'Test Key', exact: true });
  await expect(async () => {
    await test.click();
    await expect(activity.getByText(`Key tested (${hint}): accepted by Anthropic`)).toBeVisible({ timeout: 2_000 });
  }).toPass({ timeout: 20_000 });
  await expect(page.getByText('Last checked: just now')).toBeVisible();
  await expect(activity).not.toContainText(key);
});
