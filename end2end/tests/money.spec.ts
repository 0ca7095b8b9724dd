import { expect, signInViaApi, test, validApiKey } from './support/fixtures';
import { send } from './support/chat';
import type { Page } from '@playwright/test';

/** The chat page with a usable key, by role and name. */
function chat(page: Page) {
  return {
    message: page.getByLabel('Message', { exact: true }),
    send: page.getByRole('button', { name: 'Send', exact: true }),
    log: page.getByRole('log'),
  };
}

/** A signed-in account with a key, on the chat page. */
async function withKey(page: Page, newAccount: () => Promise<{ email: string; password: string }>) {
  const account = await newAccount();
  await signInViaApi(page.request, account);
  const saved = await page.request.post('/api/v1/user/api-key', { data: { api_key: validApiKey() } });
  expect(saved.status()).toBe(200);
}

test.describe.configure({ mode: 'serial' });

test.beforeEach(async ({ stub }) => {
  await stub.reset();
});

test('each answer shows its cost and cache savings, the conversation its total, Settings the month', async ({
  page,
  newAccount,
}) => {
  await withKey(page, newAccount);
  await page.goto('/chat');
  await send(page, 'what does this cost');
  const c = chat(page);
  await expect(c.log.getByText('You said: what does this cost')).toBeVisible();
  const costs = c.log.locator('.cost-line');
  await expect(costs).toHaveCount(1);
  await expect(costs.first()).toHaveText(
    /^≈ About \$0\.\d{4} · [\d,]+ in \/ [\d,]+ out · estimate; Anthropic bills your key$/,
  );
  await expect(page.getByText(/≈ \$0\.\d{4} so far/)).toBeVisible();

  // The follow-up reads the first turn from Anthropic's cache, and says what that saved.
  await send(page, 'and this one?');
  await expect(c.log.getByText('You said: and this one?')).toBeVisible();
  await expect(costs).toHaveCount(2);
  await expect(costs.nth(1)).toContainText(/saved \$0\.\d+ from cache/);

  // Stored answers show the same after a reload.
  await page.reload();
  await expect(c.log.locator('.cost-line')).toHaveCount(2);
  await expect(c.log.locator('.cost-line').nth(1)).toContainText(/saved \$0\.\d+ from cache/);

  await page.goto('/settings');
  const usage = page.getByRole('region', { name: 'Usage this month' });
  await expect(usage.getByRole('rowheader', { name: 'claude-sonnet-4-5' })).toBeVisible();
  await expect(usage.getByText('Estimated cost')).toBeVisible();
  await expect(usage.getByText('Saved by prompt caching')).toBeVisible();
  await expect(usage.getByText('All of it on your key: Anthropic bills you.')).toBeVisible();
  const row = usage.getByRole('row', { name: /claude-sonnet-4-5/ });
  await expect(row.getByRole('cell').nth(4)).toHaveText(/^\$0\.\d{4}$/);
});

test('a spending cap holds a message, says why with the figures, and Send anyway sends it once', async ({
  page,
  newAccount,
}) => {
  await withKey(page, newAccount);
  await page.goto('/settings');
  const cap = page.getByRole('region', { name: 'Monthly spending cap' });
  await expect(cap.getByText('No cap set. Spent on your key this month: $0.00.')).toBeVisible();
  const field = cap.getByLabel('Monthly cap in US dollars');
  await expect(async () => {
    await field.fill('0.01');
    await cap.getByRole('button', { name: 'Save cap' }).click();
    await expect(cap.getByRole('status')).toHaveText('Cap saved: $0.01 a month.', { timeout: 2_000 });
  }).toPass({ timeout: 20_000 });
  await expect(cap.getByText('Spent on your key this month: $0.00 of your $0.01 cap.')).toBeVisible();
  await expect(cap.getByRole('button', { name: 'Remove cap' })).toBeVisible();

  await page.goto('/chat');
  await send(page, 'over the cap');
  const c = chat(page);
  const refusal = page.getByRole('alert').filter({ hasText: 'monthly cap' });
  await expect(refusal).toContainText('$0.00 of $0.01 is spent this month');
  await expect(refusal).toContainText(/could cost up to \$0\.\d{4}/);
  await expect(c.log.getByText('You said: over the cap')).toHaveCount(0);

  await refusal.getByRole('button', { name: 'Send anyway' }).click();
  await expect(c.log.getByText('You said: over the cap')).toBeVisible();
  await expect(refusal).toHaveCount(0);
  await expect(c.log.getByText('over the cap', { exact: true })).toHaveCount(1);

  // Only that one message went past the cap: the next is held again.
  await send(page, 'and again');
  await expect(page.getByRole('alert').filter({ hasText: 'monthly cap' })).toBeVisible();

  // Removing the cap lets everything through.
  await page.goto('/settings');
  await expect(cap.getByText(/^Spent on your key this month: \$0\.\d+ of your \$0\.01 cap\.$/)).toBeVisible();
  // A plain form: before the page hydrates it posts and comes back, after it updates in place.
  await cap.getByRole('button', { name: 'Remove cap' }).click();
  await expect(cap.getByText(/^No cap set\./)).toBeVisible();
  await expect(cap.getByRole('button', { name: 'Remove cap' })).toHaveCount(0);
});
