import { expect, signInViaApi, test, validApiKey } from './support/fixtures';
import { send } from './support/chat';
import type { Page } from '@playwright/test';

// The WASM is split (`cargo leptos … --split`): the app's core, a chunk per page, and the
// Markdown renderer. A page loads the core and its own chunk only; the renderer loads when
// the browser has an answer of its own to format.

/** The names of the WASM files the page has asked for so far. */
function wasmRequests(page: Page): string[] {
  const seen: string[] = [];
  page.on('request', (r) => {
    const path = new URL(r.url()).pathname;
    if (path.endsWith('.wasm')) seen.push(path.split('/').pop()!);
  });
  return seen;
}

const loaded = (seen: string[], chunk: string) => seen.some((name) => name.includes(chunk));

test('each page loads its own code; stored answers stay formatted without the renderer', async ({ page, newAccount }) => {
  const account = await newAccount();
  await signInViaApi(page.request, account);
  const saved = await page.request.post('/api/v1/user/api-key', { data: { api_key: validApiKey() } });
  expect(saved.status()).toBe(200);
  // A stored answer with Markdown in it (the stand-in echoes the message).
  const chatted = await page.request.post('/api/v1/chat', { data: { message: 'stored **bold** words' } });
  expect(chatted.ok()).toBeTruthy();
  await chatted.body();

  const listed = await page.request.get('/api/v1/conversations');
  expect(listed.ok()).toBeTruthy();
  const body = await listed.json();
  const id: string = (Array.isArray(body) ? body : body.conversations)[0].id;

  const seen = wasmRequests(page);
  await page.goto(`/chat?c=${id}`);
  await page.waitForSelector('html[data-hydrated]', { state: 'attached' });
  const log = page.getByRole('log');
  await expect(log.locator('.markdown strong', { hasText: 'bold' })).toBeVisible();
  expect(loaded(seen, 'chat_route')).toBe(true);
  expect(loaded(seen, 'settings_route')).toBe(false);
  expect(loaded(seen, 'render_markdown')).toBe(false);

  // A streamed answer is the browser's to format: the renderer loads, and formats it.
  await send(page, 'live **strong** words');
  await expect(log.locator('.markdown strong', { hasText: 'strong' })).toBeVisible();
  expect(loaded(seen, 'render_markdown')).toBe(true);

  // Pointing at the Settings link starts loading that page's chunk before any click;
  // client-side navigation then shows the page, and it works.
  expect(loaded(seen, 'settings_route')).toBe(false);
  const settings = page.getByRole('link', { name: 'Settings', exact: true });
  await settings.hover();
  await expect.poll(() => loaded(seen, 'settings_route')).toBe(true);
  await settings.click();
  await expect(page).toHaveURL(/\/settings$/);
  await expect(page.getByRole('heading', { name: 'Settings', level: 1 })).toBeVisible();
  // And back to the chat, whose chunk is already here. A conversation opened there is
  // drawn by the browser (not hydrated): its stored answer comes out formatted too.
  await page.getByRole('link', { name: 'Chat', exact: true }).click();
  await expect(page).toHaveURL(/\/chat/);
  await expect(page.getByLabel('Message', { exact: true })).toBeVisible();
  await page.getByRole('link', { name: /^stored/ }).first().click();
  await expect(page).toHaveURL(new RegExp(`c=${id}`));
  await expect(log.locator('.markdown strong', { hasText: 'bold' })).toBeVisible();
});
