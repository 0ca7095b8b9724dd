import { expect, type Page } from '@playwright/test';
import { validApiKey } from './stub';
import { signInViaApi } from './users';

/** A new person (`newAccount`, the fixture), signed in, with a valid key, on the chat page. */
export async function onChatWithAKey(
  page: Page,
  newAccount: () => Promise<{ email: string; password: string }>,
): Promise<void> {
  const account = await newAccount();
  await signInViaApi(page.request, account);
  const saved = await page.request.post('/api/v1/user/api-key', { data: { api_key: validApiKey() } });
  expect(saved.status()).toBe(200);
  await page.goto('/chat');
}

/**
 * Sends `text` from the chat's Message field once the page has hydrated (before that, the
 * Send button cannot stream): tries until the message shows in the conversation's log.
 */
export async function send(page: Page, text: string): Promise<void> {
  const message = page.getByLabel('Message', { exact: true });
  const sendButton = page.getByRole('button', { name: 'Send', exact: true });
  const log = page.getByRole('log');
  await expect(async () => {
    await message.fill(text);
    await sendButton.click();
    await expect(log.getByText(text, { exact: true }).last()).toBeVisible({ timeout: 1_000 });
  }).toPass({ timeout: 20_000 });
}
