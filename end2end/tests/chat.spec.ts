import { expect, signInViaApi, test, validApiKey } from './support/fixtures';
import { onChatWithAKey, send } from './support/chat';
import type { Page } from '@playwright/test';

/** The chat page with a usable key, by role and name. */
function chat(page: Page) {
  return {
    message: page.getByLabel('Message', { exact: true }),
    send: page.getByRole('button', { name: 'Send', exact: true }),
    stop: page.getByRole('button', { name: 'Stop', exact: true }),
    log: page.getByRole('log'),
    rejectedHeading: page.getByText('Your API key was rejected'),
    updateKeyLink: page.getByRole('link', { name: 'Update your key' }),
  };
}

test.describe.configure({ mode: 'serial' });

test.beforeEach(async ({ stub }) => {
  await stub.reset();
});

test('from the key gate to a streamed answer that is still there after a reload', async ({ page, newAccount, chatPage }) => {
  const account = await newAccount();
  await signInViaApi(page.request, account);
  await page.goto('/chat');
  await expect(chatPage.keyRequiredHeading).toBeVisible();
  await chatPage.setUpKeyLink.click();
  await expect(page).toHaveURL(/\/settings$/);

  const key = validApiKey();
  const field = page.getByLabel('Anthropic API key', { exact: true });
  const save = page.getByRole('button', { name: 'Save Key', exact: true });
  await expect(async () => {
    await field.fill(key);
    await save.click();
    await expect(page.getByRole('status')).toHaveText('Key saved. Anthropic accepted it.', { timeout: 2_000 });
  }).toPass({ timeout: 20_000 });
  await page.getByRole('link', { name: 'Start chatting →' }).click();
  await expect(page).toHaveURL(/\/chat/);

  await send(page, 'hello agents');
  const c = chat(page);
  await expect(c.log.getByText('Hello from the Anthropic stand-in. You said: hello agents')).toBeVisible();
  await expect(page).toHaveURL(/\/chat\?c=/);

  await page.reload();
  await expect(c.log.getByText('hello agents', { exact: true })).toBeVisible();
  await expect(c.log.getByText('Hello from the Anthropic stand-in. You said: hello agents')).toBeVisible();
});

/** A person with a key and one conversation ("plan my trip"), open on the chat page, which
 * carries a mark that a page load (a form posted by the browser) would wipe: see
 * {@link samePage}. */
async function aConversationOnScreen(page: Page, newAccount: () => Promise<{ email: string; password: string }>) {
  await onChatWithAKey(page, newAccount);
  await send(page, 'plan my trip');
  await expect(chat(page).log.getByText('You said: plan my trip')).toBeVisible();
  await expect(page).toHaveURL(/\/chat\?c=/);
  await page.evaluate(() => { (window as unknown as { samePage: boolean }).samePage = true; });
}

/** Whether the page is still the one {@link aConversationOnScreen} marked (no page load since). */
async function samePage(page: Page): Promise<boolean> {
  return (await page.evaluate(() => (window as unknown as { samePage?: boolean }).samePage)) === true;
}

test('a conversation is renamed and deleted in the page, with no page load', async ({ page, newAccount }) => {
  await aConversationOnScreen(page, newAccount);

  const renameButton = page.getByRole('button', { name: 'Rename', exact: true });
  await renameButton.click();
  const title = page.getByLabel('Conversation title', { exact: true });
  await expect(title).toBeFocused();
  await title.fill('Trip & plans: été');
  await page.getByRole('button', { name: 'Save title', exact: true }).click();
  await expect(page.getByRole('heading', { level: 1, name: 'Trip & plans: été' })).toBeVisible();
  await expect(title).toBeHidden();
  await expect(renameButton).toBeFocused();
  const listed = page.locator('.conversation-link[aria-current="page"] .conversation-title');
  await expect(listed).toHaveText('Trip & plans: été');

  await page.getByRole('button', { name: 'Delete', exact: true }).click();
  await page.getByRole('button', { name: 'Yes, delete it', exact: true }).click();
  await expect(page).toHaveURL(/\/chat$/);
  await expect(page.getByText('Trip & plans: été')).toHaveCount(0);
  expect(await samePage(page)).toBe(true);
  const list = await page.request.get('/api/v1/conversations');
  expect(await list.json()).toEqual([]);
});

test('a form whose fields the page cannot read is posted by the browser, and its answer shows', async ({ page, newAccount }) => {
  await aConversationOnScreen(page, newAccount);
  const other = await page.request.post('/api/v1/chat', { data: { message: 'another thread' } });
  expect(other.ok()).toBeTruthy();
  await other.body();

  // A field sent twice is not one the page's reader takes (`PostForm`): the browser posts
  // the form itself, as without JavaScript. The server does not take it either, and its
  // answer is the page with the rename form open and its error, the title unchanged.
  await page.getByRole('button', { name: 'Rename', exact: true }).click();
  await page.evaluate(() => {
    const form = document.querySelector('form.rename-form')!;
    const id = form.querySelector<HTMLInputElement>('input[name="id"]')!;
    form.append(id.cloneNode() as HTMLInputElement);
  });
  const posted = page.waitForRequest((r) => r.isNavigationRequest() && r.method() === 'POST');
  await page.getByLabel('Conversation title', { exact: true }).fill('Posted by the browser');
  await page.getByRole('button', { name: 'Save title', exact: true }).click();
  await posted;
  await page.waitForSelector('html[data-hydrated]', { state: 'attached' });
  expect(await samePage(page)).toBe(false);
  await expect(page).toHaveURL(/\/chat/);
  const form = page.locator('form.rename-form');
  await expect(form.getByRole('alert')).toHaveText('Some fields were missing or malformed.');
  await expect(page.getByLabel('Conversation title', { exact: true })).toBeVisible();
  await expect(page.getByRole('heading', { level: 1, name: 'plan my trip' })).toBeVisible();

  // A conversation opened next in the page has an address of its own: nothing opens by
  // itself there, and none on coming back.
  await page.getByRole('link', { name: /^another thread/ }).click();
  await expect(page.getByRole('heading', { level: 1, name: 'another thread' })).toBeVisible();
  await expect(page.getByLabel('Conversation title', { exact: true })).toBeHidden();
  await page.getByRole('link', { name: /^plan my trip/ }).click();
  await expect(page.getByRole('heading', { level: 1, name: 'plan my trip' })).toBeVisible();
  await expect(page.getByLabel('Conversation title', { exact: true })).toBeHidden();

  // The same for Delete: its confirmation opens with the error, nothing deleted.
  await page.getByRole('button', { name: 'Delete', exact: true }).click();
  const confirm = page.getByRole('alertdialog');
  await page.evaluate(() => {
    const form = document.querySelector('[role="alertdialog"] form')!;
    const id = form.querySelector<HTMLInputElement>('input[name="id"]')!;
    form.append(id.cloneNode() as HTMLInputElement);
  });
  const deleting = page.waitForRequest((r) => r.isNavigationRequest() && r.method() === 'POST');
  await confirm.getByRole('button', { name: 'Yes, delete it', exact: true }).click();
  await deleting;
  await page.waitForSelector('html[data-hydrated]', { state: 'attached' });
  await expect(page.getByRole('alertdialog').getByRole('alert')).toHaveText('Some fields were missing or malformed.');
  const list = await page.request.get('/api/v1/conversations');
  expect(await list.json()).toHaveLength(2);
});

test('a failed rename or delete shows its error in its own form, not in the next conversation\'s', async ({ page, newAccount }) => {
  await aConversationOnScreen(page, newAccount);
  const other = await page.request.post('/api/v1/chat', { data: { message: 'another thread' } });
  expect(other.ok()).toBeTruthy();
  const otherId = /"conversation_id":"([^"]+)"/.exec(await other.text())![1];
  await page.reload();
  await page.waitForSelector('html[data-hydrated]', { state: 'attached' });

  // A title of blanks only passes the field's `required` and fails at the server.
  const renameForm = page.locator('form.rename-form');
  await page.getByRole('button', { name: 'Rename', exact: true }).click();
  await page.getByLabel('Conversation title', { exact: true }).fill('   ');
  await page.getByRole('button', { name: 'Save title', exact: true }).click();
  await expect(renameForm.getByRole('alert')).toHaveText('A conversation needs a title.');
  // The form stays open with what was typed, though the conversations' list was reloaded.
  await expect(page.getByLabel('Conversation title', { exact: true })).toHaveValue('   ');

  await page.getByRole('link', { name: /^another thread/ }).click();
  await expect(page.getByRole('heading', { level: 1, name: 'another thread' })).toBeVisible();
  await page.getByRole('button', { name: 'Rename', exact: true }).click();
  await expect(page.getByLabel('Conversation title', { exact: true })).toHaveValue('another thread');
  await expect(renameForm.getByRole('alert')).toHaveCount(0);
  await page.getByRole('button', { name: 'Rename', exact: true }).click();

  // Deleted elsewhere (another tab) while on screen: the delete here fails.
  expect((await page.request.delete(`/api/v1/conversations/${otherId}`)).status()).toBe(204);
  await page.getByRole('button', { name: 'Delete', exact: true }).click();
  await page.getByRole('button', { name: 'Yes, delete it', exact: true }).click();
  const dialog = page.getByRole('alertdialog');
  await expect(dialog.getByRole('alert')).toHaveText('That conversation does not exist.');
  await expect(dialog.getByRole('button', { name: 'Yes, delete it', exact: true })).toBeVisible();

  await page.getByRole('link', { name: /^plan my trip/ }).click();
  await expect(page.getByRole('heading', { level: 1, name: 'plan my trip' })).toBeVisible();
  await page.getByRole('button', { name: 'Delete', exact: true }).click();
  await expect(dialog.getByRole('button', { name: 'Yes, delete it', exact: true })).toBeVisible();
  await expect(dialog.getByRole('alert')).toHaveCount(0);
});

test('a key revoked at Anthropic turns the next send into the update prompt', async ({ page, newAccount, stub }) => {
  const account = await newAccount();
  await signInViaApi(page.request, account);
  const key = validApiKey();
  const saved = await page.request.post('/api/v1/user/api-key', { data: { api_key: key } });
  expect(saved.status()).toBe(200);
  await page.goto('/chat');
  await send(page, 'first message');
  const c = chat(page);
  await expect(c.log.getByText('You said: first message')).toBeVisible();

  await stub.revoke(key);
  await c.message.fill('second message');
  await c.send.click();
  await expect(c.rejectedHeading).toBeVisible();
  await expect(c.updateKeyLink).toHaveAttribute('href', '/settings');
});

test('Stop cancels a slow answer and keeps what arrived', async ({ page, newAccount, stub }) => {
  await onChatWithAKey(page, newAccount);
  await send(page, 'take your time [[slow]]');
  const c = chat(page);
  await expect(c.log.getByText(/Hello from/)).toBeVisible();
  await expect(c.stop).toBeVisible();
  const cut = await stub.cutStreams();
  await c.stop.click();
  await expect(c.stop).toHaveCount(0);
  await expect(c.log.getByText(/incomplete/i)).toBeVisible();
  // The call to Anthropic was cancelled, not read to its end.
  await expect.poll(() => stub.cutStreams()).toBe(cut + 1);
  // Stored as it stopped, it can be answered anew.
  await expect(page.getByRole('button', { name: 'Regenerate', exact: true })).toBeVisible();
  // The answer stopped growing.
  const text = await c.log.innerText();
  await page.waitForTimeout(1_000);
  expect(await c.log.innerText()).toBe(text);
});

test('leaving the page while an answer streams cancels it upstream', async ({ page, newAccount, stub }) => {
  await onChatWithAKey(page, newAccount);
  await send(page, 'a long one please [[slow]]');
  const c = chat(page);
  await expect(c.log.getByText(/Hello from/)).toBeVisible();
  await expect(c.stop).toBeVisible();
  const cut = await stub.cutStreams();
  // Within the app (no page load): the chat page goes, and its stream with it.
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Settings' }).click();
  await expect(page).toHaveURL(/\/settings$/);
  await expect.poll(() => stub.cutStreams()).toBe(cut + 1);
});

test('an answer in other scripts and emoji streams intact', async ({ page, newAccount }) => {
  await onChatWithAKey(page, newAccount);
  const words = 'Grüße, Ωμέγα! 日本語のテキスト 😀🎉 𐍈';
  await send(page, words);
  const c = chat(page);
  await expect(c.log.getByText(`Hello from the Anthropic stand-in. You said: ${words}`)).toBeVisible();
  await expect(c.log.getByText('\uFFFD')).toHaveCount(0);
  // And stored the same.
  await page.reload();
  await expect(c.log.getByText(`Hello from the Anthropic stand-in. You said: ${words}`)).toBeVisible();
});
