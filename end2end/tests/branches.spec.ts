import { expect, test } from './support/fixtures';
import { onChatWithAKey, send } from './support/chat';
import type { Page } from '@playwright/test';

/** The chat page's parts this spec uses, by role and name. */
function chat(page: Page) {
  return {
    message: page.getByLabel('Message', { exact: true }),
    send: page.getByRole('button', { name: 'Send', exact: true }),
    stop: page.getByRole('button', { name: 'Stop', exact: true }),
    log: page.getByRole('log'),
    regenerate: page.getByRole('button', { name: 'Regenerate', exact: true }),
    edit: page.getByRole('button', { name: 'Edit', exact: true }),
    editField: page.getByLabel('Edit your message', { exact: true }),
    previous: page.getByRole('button', { name: 'Previous version', exact: true }),
    next: page.getByRole('button', { name: 'Next version', exact: true }),
  };
}

test.describe.configure({ mode: 'serial' });

test.beforeEach(async ({ stub }) => {
  await stub.reset();
});

test('Regenerate keeps the first answer one flip away', async ({ page, newAccount }) => {
  await onChatWithAKey(page, newAccount);
  const c = chat(page);
  await send(page, 'hello [[numbered]]');
  const answer = c.log.getByText(/You said: hello \[\[numbered\]\] \(answer \d+\)/);
  await expect(answer).toBeVisible();
  const first = (await answer.innerText()).trim();

  await c.regenerate.click();
  await expect(c.log.getByRole('group', { name: 'Version 2 of 2' })).toBeVisible();
  await expect(c.log.getByText('2 / 2', { exact: true })).toBeVisible();
  await expect(answer).toBeVisible();
  const second = (await answer.innerText()).trim();
  expect(second).not.toBe(first);
  await expect(c.next).toBeDisabled();

  await c.previous.click();
  await expect(c.log.getByRole('group', { name: 'Version 1 of 2' })).toBeVisible();
  await expect(c.log.getByText(first, { exact: true })).toBeVisible();
  await expect(c.log.getByText(second, { exact: true })).toHaveCount(0);

  // Kept across a reload: the version last chosen is the one shown.
  await page.reload();
  await expect(c.log.getByText(first, { exact: true })).toBeVisible();
  await expect(c.log.getByText('1 / 2', { exact: true })).toBeVisible();
});

test('Edit sends a new version and the old branch stays', async ({ page, newAccount }) => {
  await onChatWithAKey(page, newAccount);
  const c = chat(page);
  await send(page, 'first question');
  await expect(c.log.getByText('You said: first question')).toBeVisible();

  await c.edit.click();
  await expect(c.editField).toBeFocused();
  await expect(c.editField).toHaveValue('first question');
  await c.editField.fill('second question');
  await page.getByRole('button', { name: 'Save & send', exact: true }).click();
  await expect(c.log.getByText('You said: second question')).toBeVisible();
  await expect(c.log.getByText('You said: first question')).toHaveCount(0);
  await expect(c.log.getByRole('group', { name: 'Version 2 of 2' })).toBeVisible();

  await c.previous.click();
  await expect(c.log.getByText('You said: first question')).toBeVisible();
  await expect(c.log.getByText('first question', { exact: true })).toBeVisible();
  await expect(c.log.getByText('You said: second question')).toHaveCount(0);

  // Cancel (and Esc) leave the message as it was.
  await c.edit.click();
  await c.editField.fill('never sent');
  await page.getByRole('button', { name: 'Cancel', exact: true }).click();
  await expect(c.editField).toHaveCount(0);
  await expect(c.edit).toBeFocused();
  await expect(c.log.getByText('first question', { exact: true })).toBeVisible();
});

test('Esc stops the answer being written', async ({ page, newAccount, stub }) => {
  await onChatWithAKey(page, newAccount);
  const c = chat(page);
  await send(page, 'take your time [[slow]]');
  await expect(c.log.getByText(/Hello from/)).toBeVisible();
  await expect(c.stop).toBeVisible();
  // While it streams, versions cannot be asked for.
  await expect(c.regenerate).toHaveCount(0);
  const cut = await stub.cutStreams();
  await page.keyboard.press('Escape');
  await expect(c.stop).toHaveCount(0);
  await expect(c.log.getByText(/incomplete/i)).toBeVisible();
  await expect.poll(() => stub.cutStreams()).toBe(cut + 1);

  // What arrived is kept; Regenerate asks again, and the cut-off answer stays a version.
  await c.regenerate.click();
  await expect(c.stop).toBeVisible();
  await expect(c.log.getByText(/Hello from/)).toBeVisible();
  await page.keyboard.press('Escape');
  await expect(c.stop).toHaveCount(0);
  await expect(c.log.getByRole('group', { name: 'Version 2 of 2' })).toBeVisible();
  await c.previous.click();
  await expect(c.log.getByRole('group', { name: 'Version 1 of 2' })).toBeVisible();
});

test('Ctrl+K starts a new conversation', async ({ page, newAccount }) => {
  await onChatWithAKey(page, newAccount);
  const c = chat(page);
  await send(page, 'one conversation');
  await expect(c.log.getByText('You said: one conversation')).toBeVisible();
  await expect(page).toHaveURL(/\/chat\?c=/);

  await page.keyboard.press('Control+k');
  await expect(page).toHaveURL(/\/chat$/);
  await expect(page.getByRole('heading', { name: 'New conversation', exact: true })).toBeVisible();
  await expect(c.log.getByText('one conversation', { exact: true })).toHaveCount(0);
  await expect(c.message).toBeFocused();
});

test('↑ in the empty Message field edits the last message', async ({ page, newAccount }) => {
  await onChatWithAKey(page, newAccount);
  const c = chat(page);
  await send(page, 'first words');
  await expect(c.log.getByText('You said: first words')).toBeVisible();
  await expect(c.edit).toBeVisible();

  await c.message.focus();
  await page.keyboard.press('ArrowUp');
  await expect(c.editField).toBeFocused();
  await expect(c.editField).toHaveValue('first words');
  await page.keyboard.press('Escape');
  await expect(c.editField).toHaveCount(0);
  await expect(c.edit).toBeFocused();

  // With text in the field, ↑ moves the cursor as usual.
  await c.message.fill('draft');
  await c.message.press('ArrowUp');
  await expect(c.editField).toHaveCount(0);
});

test('? and the Keyboard shortcuts button open the list in a dialog', async ({ page, newAccount }) => {
  await onChatWithAKey(page, newAccount);
  const c = chat(page);
  await send(page, 'hi');
  const dialog = page.getByRole('dialog', { name: 'Keyboard shortcuts' });
  const close = dialog.getByRole('button', { name: 'Close', exact: true });

  // "?" typed in the Message field is just text.
  await c.message.fill('');
  await c.message.press('?');
  await expect(c.message).toHaveValue('?');
  await expect(dialog).toBeHidden();

  await page.getByRole('heading', { level: 1 }).click();
  await page.keyboard.press('?');
  await expect(dialog).toBeVisible();
  await expect(dialog.getByText('New conversation')).toBeVisible();
  await expect(close).toBeFocused();
  await page.keyboard.press('Tab');
  await expect(close).toBeFocused();
  await page.keyboard.press('Escape');
  await expect(dialog).toBeHidden();

  const button = page.getByRole('button', { name: 'Keyboard shortcuts', exact: true });
  await button.click();
  await expect(dialog).toBeVisible();
  await close.click();
  await expect(dialog).toBeHidden();
  await expect(button).toBeFocused();
});
