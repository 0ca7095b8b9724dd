import { expect, signInViaApi, test } from './support/fixtures';

/**
 * Free → Upgrade to Pro → the Stripe stand-in's Checkout → Pro → chat without a key of
 * one's own (on the platform key) → Manage billing → cancel → the key gate again.
 */
test('a free account upgrades to Pro, chats without a key, cancels and meets the gate again', async ({
  page,
  newAccount,
  chatPage,
}) => {
  const account = await newAccount();
  await signInViaApi(page.request, account);

  await page.goto('/chat');
  await expect(chatPage.keyRequiredHeading).toBeVisible();

  await page.goto('/settings');
  const plan = page.getByRole('region', { name: 'Plan' });
  await expect(plan.getByText('Free', { exact: true })).toBeVisible();
  await plan.getByRole('button', { name: 'Upgrade to Pro', exact: true }).click();

  // Stripe's side (the stand-in): pay.
  await expect(page.getByRole('heading', { name: 'Subscribe to Pro' })).toBeVisible();
  await page.getByRole('button', { name: 'Pay', exact: true }).click();

  // Back in Settings once the webhook has landed.
  await expect(page).toHaveURL(/\/settings\?billing=success$/);
  await expect(plan.getByText('Pro', { exact: true })).toBeVisible();
  await expect(plan.getByRole('status')).toHaveText('Pro is active. Thank you!');

  // Chat without a key of one's own: the platform key answers.
  await page.goto('/chat');
  await expect(chatPage.keyRequiredHeading).toHaveCount(0);
  const message = page.getByLabel('Message', { exact: true });
  const log = page.getByRole('log');
  await expect(async () => {
    await message.fill('hello from Pro');
    await page.getByRole('button', { name: 'Send', exact: true }).click();
    await expect(log.getByText('hello from Pro', { exact: true }).last()).toBeVisible({ timeout: 1_000 });
  }).toPass({ timeout: 20_000 });
  await expect(log.getByText('You said: hello from Pro')).toBeVisible();
  // The conversation is in the address once the answer has finished.
  await expect(page).toHaveURL(/\/chat\?c=/);
  await page.reload();
  await expect(log.getByText("Answered on ApexAurum's key (Pro)")).toBeVisible();

  // Manage billing → cancel in Stripe's portal → back to Settings, Free again.
  await page.goto('/settings');
  await plan.getByRole('button', { name: 'Manage billing', exact: true }).click();
  await expect(page.getByRole('heading', { name: 'Billing' })).toBeVisible();
  await page.getByRole('button', { name: 'Cancel plan', exact: true }).click();
  await expect(page).toHaveURL(/\/settings$/);
  await expect(plan.getByText('Free', { exact: true })).toBeVisible();
  await expect(plan.getByRole('alert')).toHaveText('Your Pro plan has ended. Upgrade again any time.');

  await page.goto('/chat');
  await expect(chatPage.keyRequiredHeading).toBeVisible();
});
