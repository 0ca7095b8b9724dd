import { expect, signInViaApi, test, validApiKey } from './support/fixtures';
import { send } from './support/chat';
import type { Page } from '@playwright/test';

// The WASM is split (`cargo leptos … --split`): the app's core, a chunk per page, and the
// chunk of what writes answers (sending a message, reading its stream, the Markdown
// renderer). A page loads the core and its own chunk only; the answers' chunk loads when a
// message is begun or the browser has an answer of its own to format.

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

/** A chunk whose download fails: wasm-split's loader leaves the failed fetch's promise
 * unhandled, which the page reports, and only that is allowed. */
function allowFailedChunkDownloads() {
  test.info().annotations.push({ type: 'allow-page-error', description: '^uncaught: Failed to fetch$' });
}

/** Refuses the chat page's code (its chunk) while `refuse()` holds, as a dropped
 * connection would, counting each refusal in `counted` (returned). */
async function refuseTheChatsCode<T extends { refused: number }>(
  page: Page,
  refuse: () => boolean,
  counted: T = { refused: 0 } as T,
): Promise<T> {
  await page.route(
    (url) => url.pathname.includes('chat_route'),
    (route) => {
      if (!refuse()) return route.continue();
      counted.refused += 1;
      return route.abort('connectionfailed');
    },
  );
  return counted;
}

/** A signed-in person with a key and one conversation, whose stored answer has Markdown in
 * it (the stand-in echoes the message). */
async function personWithAStoredAnswer(page: Page, newAccount: () => Promise<{ email: string; password: string }>) {
  const account = await newAccount();
  await signInViaApi(page.request, account);
  const saved = await page.request.post('/api/v1/user/api-key', { data: { api_key: validApiKey() } });
  expect(saved.status()).toBe(200);
  const chatted = await page.request.post('/api/v1/chat', { data: { message: 'stored **bold** words' } });
  expect(chatted.ok()).toBeTruthy();
  await chatted.body();
}

/** The person's conversations, as the server has them. */
async function conversations(page: Page): Promise<{ id: string }[]> {
  const listed = await page.request.get('/api/v1/conversations');
  expect(listed.ok()).toBeTruthy();
  const body = await listed.json();
  return Array.isArray(body) ? body : body.conversations;
}

test('each page loads its own code; stored answers stay formatted without the renderer', async ({ page, newAccount }) => {
  await personWithAStoredAnswer(page, newAccount);
  const id = (await conversations(page))[0].id;

  const seen = wasmRequests(page);
  await page.goto(`/chat?c=${id}`);
  await page.waitForSelector('html[data-hydrated]', { state: 'attached' });
  const log = page.getByRole('log');
  await expect(log.locator('.markdown strong', { hasText: 'bold' })).toBeVisible();
  expect(loaded(seen, 'chat_route')).toBe(true);
  expect(loaded(seen, 'settings_route')).toBe(false);
  expect(loaded(seen, 'apx_answers')).toBe(false);

  // Beginning a message starts loading the chunk, before Send; a streamed answer is the
  // browser's to format, and comes out formatted.
  await page.getByLabel('Message', { exact: true }).fill('live');
  await expect.poll(() => loaded(seen, 'apx_answers')).toBe(true);
  await send(page, 'live **strong** words');
  await expect(log.locator('.markdown strong', { hasText: 'strong' })).toBeVisible();
  expect(loaded(seen, 'apx_answers')).toBe(true);

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

test('code that does not load leaves the page working: answers show plain, sending says so, Retry sends', async ({ page, newAccount }) => {
  await personWithAStoredAnswer(page, newAccount);

  // The network fails for the chunk of answers (a deploy replaced the files, a connection
  // dropped); a panic (the page's code stopping) is still an error here.
  allowFailedChunkDownloads();
  const answers = (url: URL) => url.pathname.includes('apx_answers');
  await page.route(answers, (route) => route.abort('connectionfailed'));
  await page.goto('/chat');
  await page.waitForSelector('html[data-hydrated]', { state: 'attached' });

  // A stored conversation opened in the browser shows its answer as plain text.
  const log = page.getByRole('log');
  await page.getByRole('link', { name: /^stored/ }).first().click();
  await expect(log.locator('.markdown-plain', { hasText: '**bold**' })).toBeVisible();

  // Sending says what went wrong where the answer would be, with Retry; nothing reached
  // the server, and the page still answers (a panic would have stopped all of it).
  const text = 'second **try** words';
  await page.getByLabel('Message', { exact: true }).fill(text);
  await page.getByRole('button', { name: 'Send', exact: true }).click();
  await expect(log.getByText(text, { exact: true })).toBeVisible();
  const alert = log.getByRole('alert');
  await expect(alert).toContainText('The part of the page that sends messages did not load.');
  expect(await conversations(page)).toHaveLength(1);
  await expect(page.getByRole('button', { name: 'Send', exact: true })).toBeEnabled();

  // Once the chunk loads, Retry sends the same message, once, and its answer is formatted.
  await page.unroute(answers);
  await alert.getByRole('button', { name: 'Retry', exact: true }).click();
  await expect(log.locator('.markdown strong', { hasText: 'try' })).toBeVisible();
  await expect(log.getByRole('alert')).toHaveCount(0);
  await expect(log.getByText(text, { exact: true })).toHaveCount(1);
  expect(await conversations(page)).toHaveLength(1);
});

test('Stop before the sending code has arrived sends nothing', async ({ page, newAccount }) => {
  await personWithAStoredAnswer(page, newAccount);
  // The chunk of answers arrives only when the test lets it.
  let release!: () => void;
  const held = new Promise<void>((resolve) => { release = resolve; });
  const answers = (url: URL) => url.pathname.includes('apx_answers');
  await page.route(answers, async (route) => { await held; await route.continue(); });
  await page.goto('/chat');
  await page.waitForSelector('html[data-hydrated]', { state: 'attached' });

  const log = page.getByRole('log');
  await page.getByLabel('Message', { exact: true }).fill('never sent');
  await page.getByRole('button', { name: 'Send', exact: true }).click();
  await page.getByRole('button', { name: 'Stop', exact: true }).click();
  release();
  await expect(log.getByText('Stopped before an answer arrived.')).toBeVisible();
  await expect(page.getByRole('button', { name: 'Send', exact: true })).toBeEnabled();
  expect(await conversations(page)).toHaveLength(1);
});

/** A person with a stored conversation (its id) on Settings, hydrated, whose browser gets
 * no code for the chat page (its chunk's download fails) until it loads a page of its own;
 * `seen` counts those page loads and the refusals. */
async function onSettingsWithoutTheChatsCode(page: Page, newAccount: () => Promise<{ email: string; password: string }>) {
  await personWithAStoredAnswer(page, newAccount);
  const id = (await conversations(page))[0].id;
  await page.goto('/settings');
  await page.waitForSelector('html[data-hydrated]', { state: 'attached' });

  allowFailedChunkDownloads();
  const seen = { documents: 0, refused: 0 };
  page.on('request', (r) => {
    if (r.isNavigationRequest()) seen.documents += 1;
  });
  await refuseTheChatsCode(page, () => seen.documents === 0, seen);
  return { id, seen };
}

test('a page whose code does not arrive on a click is loaded from the server instead', async ({ page, newAccount }) => {
  const { id, seen } = await onSettingsWithoutTheChatsCode(page, newAccount);

  // A conversation linked from Settings' pages opens whole, from the server, and works.
  await page.evaluate((href) => {
    const link = document.createElement('a');
    link.href = href;
    link.textContent = 'open the conversation';
    document.querySelector('main')!.append(link);
  }, `/chat?c=${id}`);
  await page.getByRole('link', { name: 'open the conversation' }).click();
  await expect(page).toHaveURL(new RegExp(`/chat\\?c=${id}$`));
  await page.waitForSelector('html[data-hydrated]', { state: 'attached' });
  expect(seen.refused).toBeGreaterThan(0);
  expect(seen.documents).toBe(1);
  const log = page.getByRole('log');
  await expect(log.locator('.markdown strong', { hasText: 'bold' })).toBeVisible();
  await send(page, 'after the reload');
  await expect(log.getByText('after the reload', { exact: true })).toBeVisible();
});

test('a page whose code does not arrive on Back or Forward is loaded from the server instead', async ({ page, newAccount }) => {
  const { id, seen } = await onSettingsWithoutTheChatsCode(page, newAccount);

  // The conversation is in this page's history, never opened in it; Forward goes to it,
  // so the address is already in the location bar when its code does not arrive.
  await page.evaluate((href) => {
    history.pushState(null, '', href);
    history.back();
  }, `/chat?c=${id}`);
  await expect(page).toHaveURL(/\/settings$/);
  await page.evaluate(() => history.forward());
  await expect(page).toHaveURL(new RegExp(`/chat\\?c=${id}$`));
  await expect.poll(() => seen.documents).toBe(1);
  expect(seen.refused).toBeGreaterThan(0);
  const log = page.getByRole('log');
  await expect(log.locator('.markdown strong', { hasText: 'bold' })).toBeVisible();
  await page.waitForSelector('html[data-hydrated]', { state: 'attached' });
  await send(page, 'after Forward');
  await expect(log.getByText('after Forward', { exact: true })).toBeVisible();
});

test('a page whose own code does not arrive at first asks for it again, and works', async ({ page, newAccount }) => {
  await personWithAStoredAnswer(page, newAccount);
  allowFailedChunkDownloads();
  // The first two downloads of the chat's code fail (a connection dropping for a moment).
  const chatsCode = { refused: 0 };
  await refuseTheChatsCode(page, () => chatsCode.refused < 2, chatsCode);
  await page.goto('/chat');
  await page.waitForSelector('html[data-hydrated]', { state: 'attached' });
  expect(chatsCode.refused).toBe(2);
  await expect(page.getByRole('alert').filter({ hasText: 'Part of this page did not load' })).toHaveCount(0);
  await send(page, 'after asking again');
  await expect(page.getByRole('log').getByText('after asking again', { exact: true })).toBeVisible();
});

test('a page whose own code does not arrive says so, and reloading it works', async ({ page, newAccount }) => {
  await personWithAStoredAnswer(page, newAccount);
  allowFailedChunkDownloads();
  // The page asks three times (the first try and two more), then stays as the server sent
  // it: its hydration never finishes, and nothing panics (the fixture fails on a panic).
  let refuse = true;
  const chatsCode = await refuseTheChatsCode(page, () => refuse);
  await page.goto('/chat');

  // The server's page stays (a stored conversation in the list), with a notice at its foot.
  const notice = page.getByRole('alert').filter({ hasText: 'Part of this page did not load' });
  await expect(notice).toBeVisible();
  expect(chatsCode.refused).toBe(3);
  await expect(notice).toContainText('Check your connection, then reload the page.');
  await expect(page.getByRole('link', { name: /^stored/ }).first()).toBeVisible();
  await expect(page.locator('html[data-hydrated]')).toHaveCount(0);

  // Its link loads the page afresh (by keyboard, too), which now works.
  refuse = false;
  await notice.getByRole('link', { name: 'reload the page' }).focus();
  await page.keyboard.press('Enter');
  await page.waitForSelector('html[data-hydrated]', { state: 'attached' });
  await expect(page.getByRole('alert').filter({ hasText: 'Part of this page did not load' })).toHaveCount(0);
  await send(page, 'after reloading');
  await expect(page.getByRole('log').getByText('after reloading', { exact: true })).toBeVisible();
});
