import { expect, signInViaApi, test, validApiKey } from './support/fixtures';
import type { APIRequestContext, Page } from '@playwright/test';
import { readFile } from 'node:fs/promises';
import { send } from './support/chat';

/**
 * Reading one's history: search that opens at the message, export, the conversations still
 * readable without a usable key, copy buttons, no emoji (icons are SVG), and the dark theme.
 */

test.describe.configure({ mode: 'serial' });

test.beforeEach(async ({ stub }) => {
  await stub.reset();
});

/** Sends a message through the JSON API and returns the stream's `done` event. */
async function chatViaApi(
  request: APIRequestContext,
  message: string,
  conversationId?: string,
): Promise<{ conversation_id: string; message_id: string }> {
  const response = await request.post('/api/v1/chat', {
    data: { message, ...(conversationId ? { conversation_id: conversationId } : {}) },
  });
  expect(response.status(), await response.text()).toBe(200);
  const body = await response.text();
  const done = body.split('\n\n').find((event) => event.startsWith('event: done'));
  expect(done, body).toBeTruthy();
  return JSON.parse(done!.split('\n').find((line) => line.startsWith('data:'))!.slice(5));
}

async function accountWithKey(page: Page, newAccount: () => Promise<{ email: string; password: string }>) {
  const account = await newAccount();
  await signInViaApi(page.request, account);
  const key = validApiKey();
  const saved = await page.request.post('/api/v1/user/api-key', { data: { api_key: key } });
  expect(saved.status()).toBe(200);
  return key;
}

function sidebar(page: Page) {
  const nav = page.getByRole('navigation', { name: 'Conversations' });
  return {
    nav,
    search: nav.getByRole('searchbox', { name: 'Search conversations' }),
    results: nav.getByRole('list'),
  };
}

test('a search finds the words and opens the conversation at that message', async ({ page, newAccount }) => {
  await accountWithKey(page, newAccount);
  const long = 'Some filler to make the conversation long enough to scroll. '.repeat(12);
  const first = await chatViaApi(page.request, 'Planning a trip to the mountains');
  for (let i = 0; i < 4; i++) {
    await chatViaApi(page.request, `${long} (part ${i})`, first.conversation_id);
  }
  const target = await chatViaApi(page.request, 'What about a xylophone concert there?', first.conversation_id);
  for (let i = 4; i < 8; i++) {
    await chatViaApi(page.request, `${long} (part ${i})`, first.conversation_id);
  }
  await chatViaApi(page.request, 'Something else entirely');

  await page.goto('/chat');
  const s = sidebar(page);
  const result = s.nav.getByRole('link', { name: /Planning a trip to the mountains/ });
  await expect(async () => {
    await s.search.fill('');
    await s.search.pressSequentially('xylophone');
    await expect(s.nav.getByRole('status')).toHaveText('1 conversation found.', { timeout: 1_500 });
  }).toPass({ timeout: 20_000 });
  // The result replaces the list, its matched word marked.
  await expect(s.nav.getByRole('heading', { name: 'Search results' })).toBeVisible();
  await expect(s.nav.getByRole('link', { name: /Something else entirely/ })).toHaveCount(0);
  await expect(result.locator('mark')).toHaveText(['xylophone']);

  await result.click();
  await expect(page).toHaveURL(new RegExp(`c=${first.conversation_id}`));
  await expect(page).toHaveURL(/#m-/);
  // The matching message (the question; its answer echoes it) is scrolled to, marked and focused.
  const message = page.getByRole('log').getByRole('article').filter({ hasText: 'What about a xylophone concert there?' }).first();
  await expect(message).toBeInViewport();
  await expect(message).toHaveClass(/found/);
  await expect(message).toBeFocused();
  expect(target.message_id).toBeTruthy();

  // Escape in the field clears the search: the list is back.
  await s.search.focus();
  await s.search.press('Escape');
  await expect(s.search).toHaveValue('');
  await expect(s.nav.getByRole('heading', { name: 'Conversations', exact: true })).toBeVisible();
  await expect(s.nav.getByRole('link', { name: /Something else entirely/ })).toBeVisible();

  // Hostile input never breaks the page.
  for (const q of ['"', 'NEAR(', '*', '-', ')(']) {
    await s.search.fill(q);
    await expect(s.nav.getByRole('status')).toHaveText('No conversations match.');
  }
});

test('a conversation answered and stopped rises to the top of the list', async ({ page, newAccount }) => {
  await accountWithKey(page, newAccount);
  const older = await chatViaApi(page.request, 'An older conversation about tides');
  await chatViaApi(page.request, 'A newer conversation about clouds');
  await page.goto(`/chat?c=${older.conversation_id}`);
  const s = sidebar(page);
  const links = s.nav.getByRole('list').getByRole('link');
  await expect(links.first()).toHaveText(/newer conversation about clouds/);

  await send(page, 'and the moon? [[slow]]');
  const log = page.getByRole('log');
  // The stored answer above, and the new one beginning.
  await expect(log.getByText(/Hello from/)).toHaveCount(2);
  await page.getByRole('button', { name: 'Stop', exact: true }).click();
  await expect(log.getByText(/incomplete/i)).toBeVisible();
  // Its answer, stored a moment after Stop, made it the latest: the list shows that
  // without a reload.
  await expect(links.first()).toHaveText(/older conversation about tides/);
});

test('a conversation downloads as Markdown and JSON, and all of them as JSON', async ({ page, newAccount }) => {
  await accountWithKey(page, newAccount);
  const { conversation_id } = await chatViaApi(page.request, 'Export this please');
  await page.goto(`/chat?c=${conversation_id}`);
  await expect(page.getByRole('heading', { level: 1, name: 'Export this please' })).toBeVisible();

  const markdown = page.getByRole('link', { name: 'Export as Markdown' });
  const downloading = page.waitForEvent('download');
  await markdown.click();
  const download = await downloading;
  expect(download.suggestedFilename()).toBe('Export this please.md');
  const text = await readFile((await download.path())!, 'utf8');
  expect(text).toContain('# Export this please');
  expect(text).toContain('## You (user)');
  expect(text).toContain('You said: Export this please');

  const json = await page.request.get((await page.getByRole('link', { name: 'Export as JSON' }).getAttribute('href'))!);
  expect(json.status()).toBe(200);
  expect(json.headers()['content-type']).toBe('application/json');
  expect(json.headers()['content-disposition']).toBe('attachment; filename="Export this please.json"');
  const exported = await json.json();
  expect(exported.messages.map((m: { role: string }) => m.role)).toEqual(['user', 'assistant']);

  const all = await page.request.get(
    (await page.getByRole('link', { name: 'Export all conversations (JSON)' }).getAttribute('href'))!,
  );
  expect(all.status()).toBe(200);
  expect(all.headers()['content-disposition']).toMatch(/^attachment; filename="apexaurum-conversations-\d{4}-\d\d-\d\d\.json"$/);
  expect((await all.json()).conversations).toHaveLength(1);
});

test('without a usable key the history stays readable and the key panel takes the composer’s place', async ({
  page,
  newAccount,
  chatPage,
  stub,
}) => {
  const key = await accountWithKey(page, newAccount);
  const { conversation_id } = await chatViaApi(page.request, 'Remember the golden ratio');

  // The key removed: the panel where the Message field was, everything else as before.
  expect((await page.request.delete('/api/v1/user/api-key')).status()).toBe(204);
  await page.goto(`/chat?c=${conversation_id}`);
  const s = sidebar(page);
  await expect(s.nav.getByRole('link', { name: /Remember the golden ratio/ })).toBeVisible();
  await expect(page.getByRole('log').getByText('You said: Remember the golden ratio')).toBeVisible();
  await expect(chatPage.keyRequiredHeading).toBeVisible();
  await expect(chatPage.setUpKeyLink).toHaveAttribute('href', '/settings');
  await expect(page.getByLabel('Message', { exact: true })).toHaveCount(0);
  await expect(s.nav.getByRole('link', { name: 'New conversation' })).toHaveCount(0);
  await expect(page.getByRole('link', { name: 'Export as Markdown' })).toBeVisible();
  // The panel comes after the conversation, where the composer would be.
  const logBox = (await page.getByRole('log').boundingBox())!;
  const gateBox = (await chatPage.keyRequiredHeading.boundingBox())!;
  expect(gateBox.y).toBeGreaterThan(logBox.y);

  // A key Anthropic refused: the refused-key panel there instead; search still works.
  expect((await page.request.post('/api/v1/user/api-key', { data: { api_key: key } })).status()).toBe(200);
  await stub.revoke(key);
  await page.request.post('/api/v1/user/api-key/test');
  await page.goto(`/chat?c=${conversation_id}`);
  await expect(page.getByRole('heading', { name: 'Your API key was rejected' })).toBeVisible();
  await expect(page.getByRole('link', { name: 'Update your key' })).toHaveAttribute('href', '/settings');
  await expect(page.getByRole('log').getByText('You said: Remember the golden ratio')).toBeVisible();
  await expect(async () => {
    await s.search.fill('');
    await s.search.pressSequentially('golden');
    await expect(s.nav.getByRole('status')).toHaveText('1 conversation found.', { timeout: 1_500 });
  }).toPass({ timeout: 20_000 });
});

test.describe('copying', () => {
  test.use({ permissions: ['clipboard-read', 'clipboard-write'] });

  test('an answer and a code block copy to the clipboard and say Copied', async ({ page, newAccount }) => {
    await accountWithKey(page, newAccount);
    const { conversation_id } = await chatViaApi(page.request, 'code:\n```rust\nfn main() {}\n```');
    await page.goto(`/chat?c=${conversation_id}`);
    const answer = page.getByRole('log').getByRole('article').filter({ hasText: 'Hello from the Anthropic stand-in' });
    // Highlighted on the server already: the keyword is its own span.
    await expect(answer.getByText('fn', { exact: true })).toHaveClass('tok-kw');

    const copyCode = answer.getByRole('button', { name: 'Copy code' });
    await expect(copyCode).toBeVisible({ timeout: 20_000 }); // shown once the script runs
    await copyCode.click();
    await expect(copyCode).toHaveText('Copied');
    expect(await page.evaluate(() => navigator.clipboard.readText())).toBe('fn main() {}\n');
    await expect(page.getByRole('status').filter({ hasText: 'Copied' })).toHaveCount(1);

    const copyAnswer = answer.getByRole('button', { name: 'Copy answer' });
    await copyAnswer.click();
    await expect(copyAnswer).toHaveText('Copied');
    expect(await page.evaluate(() => navigator.clipboard.readText())).toBe(
      'Hello from the Anthropic stand-in. You said: code:\n```rust\nfn main() {}\n```',
    );
  });
});

/** Emoji and other pictographs (which show as empty boxes without an emoji font). */
const PICTOGRAPH = /\p{Extended_Pictographic}/u;

test('pages show no emoji: icons are inline SVG', async ({ page, newAccount }) => {
  await accountWithKey(page, newAccount);
  const { conversation_id } = await chatViaApi(page.request, 'Just words here');
  await page.goto(`/chat?c=${conversation_id}`);
  await expect(page.getByRole('log').getByText('You said: Just words here')).toBeVisible();
  expect(await page.locator('body').innerText()).not.toMatch(PICTOGRAPH);
  await page.goto('/settings');
  await expect(page.getByRole('heading', { level: 1, name: 'Settings' })).toBeVisible();
  expect(await page.locator('body').innerText()).not.toMatch(PICTOGRAPH);
  // Without a key: the key panel on the chat page.
  expect((await page.request.delete('/api/v1/user/api-key')).status()).toBe(204);
  await page.goto('/chat');
  await expect(page.getByRole('heading', { name: 'API Key Required' })).toBeVisible();
  expect(await page.locator('body').innerText()).not.toMatch(PICTOGRAPH);
});

/** The relative luminance of a computed `rgb(…)` colour. */
async function luminance(page: Page, what: 'background' | 'text'): Promise<number> {
  const rgb = await page.evaluate((w) => {
    const style = getComputedStyle(document.documentElement);
    return w === 'background' ? style.backgroundColor : style.color;
  }, what);
  const [r, g, b] = rgb.match(/\d+(\.\d+)?/g)!.slice(0, 3).map(Number);
  const lin = (c: number) => {
    const s = c / 255;
    return s <= 0.03928 ? s / 12.92 : ((s + 0.055) / 1.055) ** 2.4;
  };
  return 0.2126 * lin(r) + 0.7152 * lin(g) + 0.0722 * lin(b);
}

test('the theme follows the system: dark when it is dark', async ({ page, newAccount }) => {
  await accountWithKey(page, newAccount);
  await page.emulateMedia({ colorScheme: 'dark' });
  await page.goto('/chat');
  await expect(page.getByLabel('Message', { exact: true })).toBeVisible();
  expect(await luminance(page, 'background')).toBeLessThan(0.05);
  expect(await luminance(page, 'text')).toBeGreaterThan(0.8);
  expect(await page.evaluate(() => getComputedStyle(document.documentElement).colorScheme)).toBe('light dark');

  await page.emulateMedia({ colorScheme: 'light' });
  expect(await luminance(page, 'background')).toBeGreaterThan(0.9);
  expect(await luminance(page, 'text')).toBeLessThan(0.05);
});
